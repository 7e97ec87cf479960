"""A guest's life outside migrations: boot (POST servers), delete, start and stop.

- `boot`: the scheduler places the instance (fuellab.dataplane.migration),
  then nova-compute spawns it after `spawn` lab seconds: a port on the
  tenant's network (nova allocates it through neutron), the root disk as an
  RBD image in pool `compute` (unless it boots from a volume), the libvirt
  definition and the running domain, the instance ACTIVE. No valid host, or
  Ceph not answering the compute, leaves the instance in ERROR.
- `delete`: the guest is killed and undefined, its disk removed, its ports
  deleted and floating IP disassociated, volumes detached, the rows deleted.
- `power`: os-start boots the guest again from its definition (a reboot of
  the guest OS, `vm_reboot` in the ledger); os-stop destroys the domain.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import secrets
import uuid as uuidlib
from typing import TYPE_CHECKING, Any

from fuellab import galera
from fuellab.dataplane import domains, plane
from fuellab.dataplane.migration import (
    MigrationError,
    NoValidHost,
    capacity,
    duration,
    env_id,
    instance,
    registered_hosts,
    reserve,
    schedule,
    short_host,
)

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Cluster, Node

log = logging.getLogger("fuellab.dataplane")


def disk_payload(uuid: str, size: int = 4096) -> bytes:
    """The first bytes of a guest's root disk: deterministic, so a checksum can be compared."""
    seed = hashlib.sha256(uuid.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def set_instance(lab: Lab, env: int, uuid: str, **values: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in values)
    with galera.write(lab.world, env, "nova") as conn:
        conn.execute(f"UPDATE instances SET {sets}, updated_at = NOW() WHERE uuid = ? AND deleted = 0",
                     (*values.values(), uuid))


# --------------------------------------------------------------------------- boot


async def boot(lab: Lab, cluster: Cluster | int, server: str | dict[str, Any],
               networks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Place and spawn the instance whose row the API inserted (by uuid).

    A `host` in the row (or in `server` when it is a dict) forces the compute.
    Returns the columns set; on no valid host the instance is ERROR and
    `{"error": ...}` is returned (the API already answered 202)."""
    world = lab.world
    env = world.clusters.get(env_id(cluster))
    if env is None:
        raise MigrationError(f"no environment {cluster}", 404)
    uuid = server if isinstance(server, str) else server["uuid"]
    row = instance(lab, env.id, uuid)
    ram, vcpus = int(row.get("memory_mb") or 0), int(row.get("vcpus") or 0)
    asked = (server.get("host") if isinstance(server, dict) else None) or row.get("host") or ""
    zone = str(row.get("availability_zone") or "")
    if not asked and zone.count(":") >= 1:
        asked = zone.split(":", 2)[1]  # "nova:node-5": an admin forcing the host
    forced = short_host(asked)
    try:
        with galera.read(world, env.id, "nova") as conn:
            if forced:
                target = world.node_by_hostname(forced)
                if target is None or forced not in registered_hosts(conn) \
                        or plane.why_down(lab, env, target) is not None:
                    raise NoValidHost(f"No valid host was found. Compute host {forced} is not available.")
                lack = capacity(lab, env.id, target, conn).fits(ram, vcpus)
                if lack is not None:
                    raise NoValidHost(f"No valid host was found. {forced}: {lack}")
            else:
                target = schedule(lab, env, conn, ram, vcpus)
    except NoValidHost as exc:
        set_instance(lab, env.id, uuid, vm_state="error", task_state=None, power_state=0)
        world.record("vm_build_failed", vm=uuid, env=env.id, reason=str(exc))
        return {"error": str(exc)}
    fields = {"host": target.hostname, "node": f"{target.hostname}.domain.tld",
              "launched_on": target.hostname, "task_state": "spawning", "vm_state": "building"}
    set_instance(lab, env.id, uuid, **fields)
    release = reserve(lab, target.hostname, ram, vcpus)
    lab.spawn(_spawn(lab, env.id, row, target.id, networks, release), f"spawn-{uuid}")
    return fields


async def _spawn(lab: Lab, env: int, row: dict[str, Any], target_id: int,
                 networks: list[dict[str, Any]] | None, release: Any) -> None:
    from fuellab import ceph

    world = lab.world
    uuid = row["uuid"]
    try:
        await lab.clock.sleep(duration(lab, "spawn"))
        target = world.nodes[target_id]
        try:
            port = _allocate_port(lab, env, row, networks, target.hostname)
        except (MigrationError, galera.GaleraError) as exc:
            _failed(lab, env, uuid, str(exc))
            return
        volume = _boot_volume(lab, env, uuid)
        disk = f"volumes/volume-{volume}" if volume else f"compute/{uuid}_disk"
        if not volume:
            try:
                client = ceph.client_on(lab, target, "client.compute")
                client.create_rbd("compute", f"{uuid}_disk", int(row.get("root_gb") or 1) * 1024 ** 3,
                                  disk_payload(uuid))
            except (ceph.ClientError, ceph.DataError) as exc:
                _failed(lab, env, uuid, str(exc).splitlines()[-1] if str(exc) else "Ceph unavailable")
                return
        spec = domains.DomainSpec(
            name=domains.domain_name(row["id"]), uuid=uuid,
            display_name=row.get("display_name") or uuid, flavor=str(row.get("instance_type_id") or ""),
            memory_mb=int(row.get("memory_mb") or 0), vcpus=int(row.get("vcpus") or 0), disk=disk,
            mac=port.get("mac", "") if port else "", port_id=port.get("id", "") if port else "")
        domains.define(world, target, spec)
        domains.start(world, target, spec)
        set_instance(lab, env, uuid, vm_state="active", task_state=None, power_state=1,
                     launched_at=galera.lab_datetime(world))
        if port:
            with galera.write(world, env, "nova") as conn:
                conn.execute("UPDATE instance_info_caches SET network_info = ?, updated_at = NOW() "
                             "WHERE instance_uuid = ? AND deleted = 0", (json.dumps([port["info"]]), uuid))
    finally:
        release()


def _failed(lab: Lab, env: int, uuid: str, reason: str) -> None:
    try:
        set_instance(lab, env, uuid, vm_state="error", task_state=None, power_state=0)
    except galera.GaleraError as exc:
        log.warning("instance %s: ERROR not recorded: %s", uuid, exc)
    lab.world.record("vm_build_failed", vm=uuid, env=env, reason=reason[:300])


def _boot_volume(lab: Lab, env: int, uuid: str) -> str | None:
    with galera.read(lab.world, env, "nova") as conn:
        found = conn.execute(
            "SELECT volume_id FROM block_device_mapping WHERE instance_uuid = ? AND deleted = 0 "
            "AND boot_index = 0 AND destination_type = 'volume'", (uuid,)).fetchone()
    return found[0] if found and found[0] else None


def _mac() -> str:
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def _allocate_port(lab: Lab, env: int, row: dict[str, Any], networks: list[dict[str, Any]] | None,
                   host: str) -> dict[str, Any] | None:
    """nova's allocate_for_instance: a port on the requested (or the tenant's only) network."""
    project = row.get("project_id") or ""
    uuid = row["uuid"]
    wanted = [n for n in networks or [] if isinstance(n, dict)]
    with galera.write(lab.world, env, "neutron") as conn:
        if wanted and wanted[0].get("port"):
            port = conn.execute("SELECT id, network_id, mac_address FROM ports WHERE id = ?",
                                (wanted[0]["port"],)).fetchone()
            if port is None:
                raise MigrationError(f"Port {wanted[0]['port']} could not be found.")
            conn.execute("UPDATE ports SET device_id = ?, device_owner = 'compute:nova', status = 'ACTIVE' "
                         "WHERE id = ?", (uuid, port[0]))
            address = conn.execute("SELECT ip_address FROM ipallocations WHERE port_id = ?",
                                   (port[0],)).fetchone()
            _bind(conn, port[0], port[1], host)
            return _port_info(conn, port[0], port[1], port[2], address[0] if address else "")
        net_id = wanted[0].get("uuid") if wanted else None
        if not net_id:
            found = [r[0] for r in conn.execute(
                "SELECT id FROM networks WHERE (tenant_id = ? OR shared = 1) AND id NOT IN "
                "(SELECT network_id FROM externalnetworks) ORDER BY id", (project,)).fetchall()]
            if not found:
                return None
            if len(found) > 1:
                raise MigrationError("Multiple possible networks found, use a Network ID to be more specific.")
            net_id = found[0]
        subnet = conn.execute("SELECT id, cidr, gateway_ip FROM subnets WHERE network_id = ? ORDER BY id LIMIT 1",
                              (net_id,)).fetchone()
        if subnet is None:
            raise MigrationError(f"Network {net_id} has no subnet to allocate an address from.")
        used = {r[0] for r in conn.execute("SELECT ip_address FROM ipallocations WHERE subnet_id = ?",
                                           (subnet[0],)).fetchall()}
        used.add(subnet[2])
        network = ipaddress.ip_network(subnet[1], strict=False)
        address = next((str(a) for i, a in enumerate(network.hosts()) if i >= 2 and str(a) not in used), None)
        if address is None:
            raise MigrationError(f"No more IP addresses available on network {net_id}.")
        port_id, mac = str(uuidlib.uuid4()), _mac()
        conn.execute("INSERT INTO ports (tenant_id, id, name, network_id, mac_address, admin_state_up, "
                     "status, device_id, device_owner) VALUES (?, ?, '', ?, ?, 1, 'ACTIVE', ?, 'compute:nova')",
                     (project, port_id, net_id, mac, uuid))
        conn.execute("INSERT INTO ipallocations (port_id, ip_address, subnet_id, network_id) VALUES (?, ?, ?, ?)",
                     (port_id, address, subnet[0], net_id))
        group = conn.execute("SELECT security_group_id FROM default_security_group WHERE tenant_id = ?",
                             (project,)).fetchone()
        if group is not None:
            conn.execute("INSERT INTO securitygroupportbindings (port_id, security_group_id) VALUES (?, ?)",
                         (port_id, group[0]))
        _bind(conn, port_id, net_id, host)
        return _port_info(conn, port_id, net_id, mac, address)


def _bind(conn: Any, port_id: str, net_id: str, host: str) -> None:
    segment = conn.execute("SELECT id FROM ml2_network_segments WHERE network_id = ?", (net_id,)).fetchone()
    columns = {r[1] for r in conn.execute('PRAGMA table_info("ml2_port_bindings")')}
    conn.execute("DELETE FROM ml2_port_bindings WHERE port_id = ?", (port_id,))
    values = {"port_id": port_id, "host": host, "vif_type": "ovs", "vnic_type": "normal",
              "vif_details": '{"port_filter": true, "ovs_hybrid_plug": true}', "profile": "{}"}
    if "driver" in columns:
        values.update(driver="openvswitch", segment=segment[0] if segment else None)
    conn.execute(f"INSERT INTO ml2_port_bindings ({', '.join(values)}) VALUES "
                 f"({', '.join('?' for _ in values)})", tuple(values.values()))


def _port_info(conn: Any, port_id: str, net_id: str, mac: str, address: str) -> dict[str, Any]:
    name = conn.execute("SELECT name FROM networks WHERE id = ?", (net_id,)).fetchone()
    cidr = conn.execute("SELECT cidr FROM subnets WHERE network_id = ? LIMIT 1", (net_id,)).fetchone()
    info = {"id": port_id, "address": mac, "type": "ovs", "devname": f"tap{port_id[:11]}",
            "ovs_interfaceid": port_id, "active": True, "vnic_type": "normal",
            "network": {"id": net_id, "label": name[0] if name else "", "bridge": "br-int",
                        "subnets": [{"cidr": cidr[0] if cidr else "", "ips": [
                            {"address": address, "type": "fixed", "version": 4, "floating_ips": []}]}]}}
    return {"id": port_id, "mac": mac, "info": info}


# --------------------------------------------------------------------------- delete


def destroy_guest(lab: Lab, server_uuid: str) -> bool:
    """Kill and undefine the guest wherever it runs or is defined; remove its root disk."""
    from fuellab import ceph
    from fuellab.dataplane.engine import engine_of

    world = lab.world
    found = domains.find(world, server_uuid)
    disk_node: Node | None = None
    spec = None
    if found is not None:
        node, name = found
        spec = domains.spec_of(world, node, name)
        domains.destroy(world, node, name)
        disk_node = node
    for node in world.nodes.values():
        for name, defined in domains.defined(world, node).items():
            if defined.uuid == server_uuid:
                spec = spec or defined
                disk_node = disk_node or node
                domains.undefine(world, node, name, server_uuid)
    engine = engine_of(lab)
    if engine is not None:
        engine.forget(server_uuid)
    if spec is not None and disk_node is not None and spec.disk.startswith("compute/"):
        try:
            ceph.client_on(lab, disk_node, "client.compute").rbd_remove("compute", spec.disk.split("/", 1)[1])
        except (ceph.ClientError, ceph.DataError) as exc:
            log.info("disk of %s left in Ceph: %s", server_uuid, exc)
    return found is not None


async def delete(lab: Lab, cluster: Cluster | int, server_uuid: str) -> None:
    """DELETE /servers/<id> as nova-compute completes it."""
    world = lab.world
    env = env_id(cluster)
    destroy_guest(lab, server_uuid)
    with galera.write(world, env, "nova") as conn:
        conn.execute("UPDATE instances SET vm_state = 'deleted', task_state = NULL, power_state = 0, "
                     "deleted = id, deleted_at = NOW(), terminated_at = NOW(), updated_at = NOW() "
                     "WHERE uuid = ? AND deleted = 0", (server_uuid,))
        for table in ("instance_info_caches", "block_device_mapping"):
            conn.execute(f"UPDATE {table} SET deleted = id, deleted_at = NOW() "
                         "WHERE instance_uuid = ? AND deleted = 0", (server_uuid,))
    try:
        with galera.write(world, env, "neutron") as conn:
            ports = [r[0] for r in conn.execute("SELECT id FROM ports WHERE device_id = ?", (server_uuid,))]
            for port in ports:
                conn.execute("UPDATE floatingips SET fixed_port_id = NULL, fixed_ip_address = NULL, "
                             "router_id = NULL, status = 'DOWN' WHERE fixed_port_id = ?", (port,))
                for table in ("ipallocations", "ml2_port_bindings", "securitygroupportbindings"):
                    conn.execute(f"DELETE FROM {table} WHERE port_id = ?", (port,))
                conn.execute("DELETE FROM ports WHERE id = ?", (port,))
    except galera.GaleraError as exc:
        log.warning("ports of %s not deleted: %s", server_uuid, exc)
    try:
        with galera.write(world, env, "cinder") as conn:
            columns = {r[1] for r in conn.execute('PRAGMA table_info("volumes")')}
            if "instance_uuid" in columns:
                conn.execute("UPDATE volumes SET status = 'available', attach_status = 'detached', "
                             "instance_uuid = NULL, attached_host = NULL, mountpoint = NULL, "
                             "updated_at = NOW() WHERE instance_uuid = ? AND deleted = 0", (server_uuid,))
            else:
                conn.execute("UPDATE volumes SET status = 'available', attach_status = 'detached', "
                             "updated_at = NOW() WHERE id IN (SELECT volume_id FROM volume_attachment "
                             "WHERE instance_uuid = ? AND deleted = 0)", (server_uuid,))
                conn.execute("UPDATE volume_attachment SET deleted = 1, deleted_at = NOW(), "
                             "attach_status = 'detached' WHERE instance_uuid = ? AND deleted = 0",
                             (server_uuid,))
    except galera.GaleraError as exc:
        log.warning("volumes of %s not detached: %s", server_uuid, exc)


# --------------------------------------------------------------------------- start / stop


def power(lab: Lab, cluster: Cluster | int, server_uuid: str, on: bool) -> None:
    """os-start boots the guest from its definition (a reboot of its OS); os-stop destroys it."""
    world = lab.world
    env = env_id(cluster)
    row = instance(lab, env, server_uuid)
    node = world.node_by_hostname(row.get("host") or "")
    if node is None or not node.online:
        raise MigrationError(f"Compute service of {row.get('host')} is unavailable at this time.")
    name = domains.domain_name(row["id"])
    if on:
        spec = domains.spec_of(world, node, name)
        if spec is None:
            raise MigrationError(f"Instance {server_uuid} has no domain defined on {node.hostname}", 409)
        if name not in domains.running(node):
            domains.start(world, node, spec, reboot=True)
        set_instance(lab, env, server_uuid, vm_state="active", power_state=1, task_state=None)
    else:
        domains.destroy(world, node, name)
        set_instance(lab, env, server_uuid, vm_state="stopped", power_state=4, task_state=None)
