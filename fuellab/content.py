"""The tenant content of a scenario's env: what its users built before the upgrade.

`populate(world, cluster, vms)` adds, on top of what a fresh deployment left
(fuellab.openstack.seed):

- keystone: three tenant projects with a user each, and the `traffic`
  project whose user the tenant traffic generator logs in as (its password is
  kept in the env's generated attributes, `generated["tenant"]`);
- glance: three images whose data is in Ceph (pool `images`), checksums in
  the image rows;
- neutron: per project a VLAN network, a subnet, a router with its gateway on
  net04_ext bound to an L3 agent (spread over the controllers), a `web`
  security group next to `default`; per guest a port and a floating IP;
- nova: per-project quotas and key pairs, `vms` instances (flavors cycling,
  each on the least loaded compute that fits, as the scheduler places them)
  with their metadata, network info and block device mappings;
- cinder: a boot volume for every sixth guest, a data volume attached to
  every fourth, a spare volume per project, all in Ceph (pool `volumes`);
- heat: a stack in the `web` project owning two of its guests;
- on the computes: each guest's libvirt definition and running domain, its
  root disk in Ceph (pool `compute`) unless it boots from a volume.

Rows are written in bulk so that a few thousand guests stay fast. IDs derive
from the env and names (uuid5), so the same scenario gives the same IDs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fuellab import galera
from fuellab.dataplane import domains
from fuellab.dataplane.lifecycle import disk_payload
from fuellab.dataplane.migration import (
    DEFAULT_CPU_RATIO,
    DEFAULT_RAM_RATIO,
    RESERVED_HOST_MEMORY_MB,
)
from fuellab.openstack import seed
from fuellab.openstack.seed import hexid, mac, sid
from fuellab.world import Cluster, Node, World

PROJECTS = (("demo", "alice"), ("web", "bob"), ("analytics", "carol"))
TRAFFIC_PROJECT, TRAFFIC_USER = "traffic", "tenant"
IMAGES = (  # name, disk format, public, data size (bytes), min_disk GB
    ("cirros-0.3.4-x86_64", "qcow2", True, 24 * 1024, 1),
    ("ubuntu-14.04-server-cloudimg", "qcow2", True, 48 * 1024, 5),
    ("centos-7-x86_64-GenericCloud", "raw", False, 32 * 1024, 8),
)
FLAVOR_CYCLE = ("m1.small", "m1.medium", "m1.small", "m1.large", "m1.tiny")
FALLBACK_FLAVORS = ("m1.tiny", "m1.micro")
NOVA_QUOTAS = {"instances": 1000, "cores": 2000, "ram": 4096000, "floating_ips": 1000,
               "security_groups": 20, "security_group_rules": 100, "key_pairs": 20}
CINDER_QUOTAS = {"volumes": 1000, "gigabytes": 20000, "snapshots": 100}
NEUTRON_QUOTAS = {"network": 10, "subnet": 10, "port": 2000, "router": 5, "floatingip": 1000,
                  "security_group": 20, "security_group_rule": 100}
FIP_START = 100  # floating addresses from this index on (router gateways use 10..)
BOOT_FROM_VOLUME_EVERY = 6
ATTACHED_VOLUME_EVERY = 4


@dataclass
class Project:
    name: str
    user: str
    id: str
    user_id: str
    index: int
    network_id: str = ""
    subnet_id: str = ""
    cidr: str = ""
    router_id: str = ""
    secgroups: list[str] = field(default_factory=list)
    next_ip: int = 10


@dataclass
class Guest:
    index: int
    uuid: str
    instance_id: int
    name: str
    project: Project
    flavor: tuple[Any, ...]  # instance_types row: id, name, memory_mb, vcpus, root_gb, flavorid
    host: Node
    image: dict[str, Any]
    boot_volume: str | None = None
    data_volume: str | None = None
    port_id: str = ""
    mac: str = ""
    fixed_ip: str = ""
    fip: str = ""
    fip_id: str = ""


def _bulk(conn: sqlite3.Connection, table: str, rows: Iterable[dict[str, Any]]) -> int:
    """Insert many rows with the columns the table has (Juno or Kilo schema)."""
    rows = list(rows)
    if not rows or not seed.has_table(conn, table):
        return 0
    have = set(seed.columns(conn, table))
    names = [k for k in rows[0] if k in have]
    sql = (f'INSERT INTO "{table}" ({", ".join(f"{chr(34)}{n}{chr(34)}" for n in names)}) '
           f'VALUES ({", ".join("?" for _ in names)})')
    conn.executemany(sql, [tuple(r.get(n) for n in names) for r in rows])
    return len(rows)


def _payload(name: str, size: int) -> bytes:
    seed_bytes = hashlib.sha512(name.encode()).digest()
    return (seed_bytes * (size // len(seed_bytes) + 1))[:size]


class _Db:
    """One env database opened for the whole population, committed once."""

    def __init__(self, world: World, cluster: Cluster, name: str) -> None:
        self.conn = galera.connect(world, cluster.id, name)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.conn.commit()
        self.conn.close()


# --------------------------------------------------------------------------- Ceph in bulk


class _CephBatch:
    """RBD images written through the Ceph client, committed to the monitors once at the end."""

    def __init__(self, world: World, controller: Node) -> None:
        from fuellab.ceph.client import Client, connect
        from fuellab.ceph.data import write

        client = connect(world, None, controller)
        directories: dict[str, dict[str, str]] = {}

        class Batched(Client):
            # A commit per object would rewrite every monitor store once per object; the
            # images' directories are kept in memory and written once, in `flush`.
            def commit(self) -> None:
                return None

            def rbd_directory(self, pool: str) -> dict[str, str]:
                if pool not in directories:
                    directories[pool] = Client.rbd_directory(self, pool)
                return directories[pool]

            def put(self, pool: str, name: str, payload: bytes, commit: bool = True) -> str:
                if name == "rbd_directory":
                    return ""
                return write(self.view, self.quorum, pool, name, payload)

        self.client = Batched(client.view, client.quorum, client.node, client.entity)
        self.directories = directories
        self._write = write
        self.fsid = client.quorum.fsid

    def rbd(self, pool: str, image: str, size: int, payload: bytes) -> str:
        return self.client.create_rbd(pool, image, size, payload)

    def flush(self) -> None:
        for pool, directory in self.directories.items():
            self._write(self.client.view, self.client.quorum, pool, "rbd_directory",
                        json.dumps(directory, sort_keys=True).encode())
        self.client.quorum.commit()


# --------------------------------------------------------------------------- the population


def populate(world: World, cluster: Cluster, vms: int = 12) -> dict[str, int]:
    """Fill the env with tenant content; counts of what was made."""
    computes = [n for n in world.cluster_nodes(cluster.id) if "compute" in n.roles]
    controllers = [n for n in world.cluster_nodes(cluster.id) if "controller" in n.roles]
    if not controllers or (vms and not computes):
        raise ValueError(f"env {cluster.id} needs controllers and computes for tenant content")
    now = galera.lab_datetime(world)
    ceph = _CephBatch(world, controllers[0])
    projects = _keystone(world, cluster)
    images = _glance(world, cluster, projects, ceph, now)
    guests: list[Guest] = []
    with _Db(world, cluster, "nova") as nova:
        guests = _place(world, cluster, nova, projects, images, computes, vms)
    with _Db(world, cluster, "neutron") as neutron:
        _networks(world, cluster, neutron, projects)
        _guest_ports(world, cluster, neutron, guests)
    with _Db(world, cluster, "cinder") as cinder:
        volumes = _cinder(world, cluster, cinder, projects, guests, ceph, now)
    with _Db(world, cluster, "nova") as nova:
        _nova_rows(world, cluster, nova, projects, guests, images, now)
    with _Db(world, cluster, "heat") as heat:
        _heat(world, cluster, heat, projects, guests, now)
    for guest in guests:
        if guest.boot_volume is None:
            ceph.rbd("compute", f"{guest.uuid}_disk", int(guest.flavor[4] or 1) * 1024 ** 3,
                     disk_payload(guest.uuid))
        spec = domains.DomainSpec(
            name=domains.domain_name(guest.instance_id), uuid=guest.uuid, display_name=guest.name,
            flavor=guest.flavor[1], memory_mb=guest.flavor[2], vcpus=guest.flavor[3],
            disk=f"volumes/volume-{guest.boot_volume}" if guest.boot_volume else f"compute/{guest.uuid}_disk",
            mac=guest.mac, port_id=guest.port_id)
        domains.define(world, guest.host, spec)
        guest.host.domains[spec.name] = {"uuid": guest.uuid, "state": domains.RUNNING,
                                         "since": round(world.clock.now(), 3),
                                         "id": len(guest.host.domains) + 1}
    ceph.flush()
    world.changed()
    return {"projects": len(projects), "images": len(images), "vms": len(guests), "volumes": volumes}


def _keystone(world: World, cluster: Cluster) -> list[Project]:
    projects = []
    password_hash = seed.keystone_password_hash(secrets.token_urlsafe(12), rounds=1000)
    member = seed.MEMBER_ROLE_ID
    owner = hexid(cluster, "role", "heat_stack_owner")
    traffic_password = secrets.token_urlsafe(18)
    with _Db(world, cluster, "keystone") as conn:
        rows, users, assignments = [], [], []
        named = [*PROJECTS, (TRAFFIC_PROJECT, TRAFFIC_USER)]
        for i, (name, user) in enumerate(named):
            project = Project(name, user, hexid(cluster, "project", name), hexid(cluster, "user", user), i)
            rows.append({"id": project.id, "name": name, "extra": "{}", "enabled": 1,
                         "description": f"{name} tenant", "domain_id": "default"})
            pw = seed.keystone_password_hash(traffic_password) if name == TRAFFIC_PROJECT else password_hash
            users.append({"id": project.user_id, "name": user, "password": pw, "enabled": 1,
                          "extra": json.dumps({"email": f"{user}@example.com"}), "domain_id": "default",
                          "default_project_id": project.id})
            assignments.append({"type": "UserProject", "actor_id": project.user_id,
                                "target_id": project.id, "role_id": member, "inherited": 0})
            if name == "web":
                assignments.append({"type": "UserProject", "actor_id": project.user_id,
                                    "target_id": project.id, "role_id": owner, "inherited": 0})
            projects.append(project)
        _bulk(conn, "project", rows)
        _bulk(conn, "user", users)
        _bulk(conn, "assignment", assignments)
    cluster.generated["tenant"] = {"user": TRAFFIC_USER, "password": traffic_password,
                                   "project": TRAFFIC_PROJECT, "domain": "Default"}
    return projects


def _glance(world: World, cluster: Cluster, projects: list[Project], ceph: _CephBatch,
            now: str) -> list[dict[str, Any]]:
    images = []
    with _Db(world, cluster, "glance") as conn:
        for i, (name, fmt, public, size, min_disk) in enumerate(IMAGES):
            image_id = sid(cluster, "image", name)
            data = _payload(image_id, size)
            checksum = ceph.rbd("images", image_id, size, data)
            owner = projects[i % len(PROJECTS)].id
            images.append({"id": image_id, "name": name, "size": size, "status": "active",
                           "is_public": int(public), "created_at": now, "updated_at": now, "deleted": 0,
                           "disk_format": fmt, "container_format": "bare", "checksum": checksum,
                           "owner": owner, "min_disk": min_disk, "min_ram": 0, "protected": 0,
                           "virtual_size": None})
        _bulk(conn, "images", images)
        _bulk(conn, "image_locations", [
            {"image_id": img["id"], "value": f"rbd://{ceph.fsid}/images/{img['id']}/snap",
             "created_at": now, "updated_at": now, "deleted": 0, "meta_data": "{}", "status": "active"}
            for img in images])
        _bulk(conn, "image_properties", [
            {"image_id": img["id"], "name": "os_distro", "value": img["name"].split("-")[0],
             "created_at": now, "deleted": 0} for img in images])
    return images


def _flavors(conn: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute("SELECT id, name, memory_mb, vcpus, root_gb, flavorid FROM instance_types "
                        "WHERE deleted = 0").fetchall()
    return {r[1]: tuple(r) for r in rows}


def _place(world: World, cluster: Cluster, conn: sqlite3.Connection, projects: list[Project],
           images: list[dict[str, Any]], computes: list[Node], count: int) -> list[Guest]:
    """Each guest on the compute with the most free RAM that fits its flavor (RamFilter,
    CoreFilter and nova's default RAM weigher, with nova's default allocation ratios)."""
    flavors = _flavors(conn)
    free = {n.id: n.memory_mb * DEFAULT_RAM_RATIO - RESERVED_HOST_MEMORY_MB for n in computes}
    cores = {n.id: n.cpu * DEFAULT_CPU_RATIO for n in computes}
    next_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM instances").fetchone()[0]) + 1
    tenants = projects[:len(PROJECTS)]
    guests = []
    for i in range(count):
        project = tenants[i % len(tenants)]
        wanted = [FLAVOR_CYCLE[i % len(FLAVOR_CYCLE)], *FALLBACK_FLAVORS]
        host = flavor = None
        for name in wanted:
            if name not in flavors:
                continue
            fit = [n for n in computes if free[n.id] >= flavors[name][2] and cores[n.id] >= flavors[name][3]]
            if fit:
                host, flavor = max(fit, key=lambda n: (free[n.id], -n.id)), flavors[name]
                break
        if host is None or flavor is None:
            raise ValueError(f"the computes of env {cluster.id} cannot hold {count} guests "
                             f"(placed {i}); add computes or lower `vms`")
        free[host.id] -= flavor[2]
        cores[host.id] -= flavor[3]
        number = sum(1 for g in guests if g.project is project) + 1
        guest = Guest(i, sid(cluster, "instance", str(i)), next_id + i, f"{project.name}-vm-{number:02d}",
                      project, flavor, host, images[i % len(images)])
        if i % BOOT_FROM_VOLUME_EVERY == BOOT_FROM_VOLUME_EVERY - 1:
            guest.boot_volume = sid(cluster, "volume", "boot", str(i))
        if i % ATTACHED_VOLUME_EVERY == ATTACHED_VOLUME_EVERY - 1:
            guest.data_volume = sid(cluster, "volume", "data", str(i))
        guests.append(guest)
    return guests


# --------------------------------------------------------------------------- neutron


def _l3_agents(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM agents WHERE agent_type = 'L3 agent' ORDER BY host").fetchall()]


def _networks(world: World, cluster: Cluster, conn: sqlite3.Connection, projects: list[Project]) -> None:
    ext = seed.find(conn, "networks", name="net04_ext")
    if ext is None:
        raise ValueError(f"env {cluster.id} has no net04_ext: deploy it first")
    ext_net = ext[1]
    floating = world.networks["floating"]
    agents = _l3_agents(conn)
    free_vlans = [r[0] for r in conn.execute(
        "SELECT vlan_id FROM ml2_vlan_allocations WHERE physical_network = 'physnet2' AND allocated = 0 "
        "ORDER BY vlan_id").fetchall()]
    nets, segs, subnets, routers, ports, allocs, bindings, rports, l3, sgs, rules, quotas = (
        [] for _ in range(12))
    defaults = []
    for i, project in enumerate(projects):
        project.network_id = sid(cluster, "network", project.name)
        project.subnet_id = sid(cluster, "subnet", project.name)
        project.router_id = sid(cluster, "router", project.name)
        project.cidr = f"10.{10 + i}.0.0/16"
        gateway = str(ipaddress.ip_network(project.cidr).network_address + 1)
        vlan = free_vlans[i] if i < len(free_vlans) else None
        if vlan is not None:
            conn.execute("UPDATE ml2_vlan_allocations SET allocated = 1 WHERE physical_network = 'physnet2' "
                         "AND vlan_id = ?", (vlan,))
        nets.append({"tenant_id": project.id, "id": project.network_id, "name": f"{project.name}-net",
                     "status": "ACTIVE", "admin_state_up": 1, "shared": 0})
        segs.append({"id": sid(cluster, "segment", project.name), "network_id": project.network_id,
                     "network_type": "vlan", "physical_network": "physnet2", "segmentation_id": vlan,
                     "is_dynamic": 0})
        subnets.append({"tenant_id": project.id, "id": project.subnet_id, "name": f"{project.name}-subnet",
                        "network_id": project.network_id, "ip_version": 4, "cidr": project.cidr,
                        "gateway_ip": gateway, "enable_dhcp": 1, "shared": 0})
        routers.append({"tenant_id": project.id, "id": project.router_id, "name": f"{project.name}-router",
                        "status": "ACTIVE", "admin_state_up": 1,
                        "gw_port_id": sid(cluster, "port", project.name, "gw"), "enable_snat": 1})
        host = "node"
        for kind, net, subnet, address, owner, tenant in (
                ("gw", ext_net, seed.find(conn, "subnets", network_id=ext_net)[1],
                 floating.address(10 + i), "network:router_gateway", ""),
                ("if", project.network_id, project.subnet_id, gateway, "network:router_interface",
                 project.id)):
            port_id = sid(cluster, "port", project.name, kind)
            ports.append({"tenant_id": tenant, "id": port_id, "name": "", "network_id": net,
                          "mac_address": mac(cluster, "port", project.name, kind), "admin_state_up": 1,
                          "status": "ACTIVE", "device_id": project.router_id, "device_owner": owner})
            allocs.append({"port_id": port_id, "ip_address": address, "subnet_id": subnet, "network_id": net})
            rports.append({"router_id": project.router_id, "port_id": port_id, "port_type": owner})
            bindings.append({"port_id": port_id, "host": host, "vif_type": "ovs", "driver": "openvswitch",
                             "vnic_type": "normal", "vif_details": '{"port_filter": true}', "profile": "{}"})
        if agents:
            l3.append({"router_id": project.router_id, "l3_agent_id": agents[i % len(agents)]})
        for sg_name in ("default", "web") if project.name == "web" else ("default",):
            sg_id = sid(cluster, "secgroup", project.id, sg_name)
            project.secgroups.append(sg_id)
            sgs.append({"tenant_id": project.id, "id": sg_id, "name": sg_name,
                        "description": "default" if sg_name == "default" else "web servers"})
            if sg_name == "default":
                defaults.append({"tenant_id": project.id, "security_group_id": sg_id})
                specs = [("ingress", "IPv4", None, None, None, sg_id), ("egress", "IPv4", None, None, None, None),
                         ("ingress", "IPv4", "tcp", 22, 22, None), ("ingress", "IPv4", "icmp", None, None, None)]
            else:
                specs = [("ingress", "IPv4", "tcp", 80, 80, None), ("ingress", "IPv4", "tcp", 443, 443, None)]
            for direction, ether, proto, low, high, remote in specs:
                rules.append({"tenant_id": project.id,
                              "id": sid(cluster, "sgrule", sg_id, direction, str(proto), str(low)),
                              "security_group_id": sg_id, "remote_group_id": remote, "direction": direction,
                              "ethertype": ether, "protocol": proto, "port_range_min": low,
                              "port_range_max": high,
                              "remote_ip_prefix": "0.0.0.0/0" if proto and not remote else None})
        for resource, limit in NEUTRON_QUOTAS.items():
            quotas.append({"id": sid(cluster, "quota", project.id, resource), "tenant_id": project.id,
                           "resource": resource, "limit": limit})
    agent_hosts = dict(conn.execute("SELECT id, host FROM agents").fetchall())
    for binding in bindings:
        router = next(r["router_id"] for r in rports if r["port_id"] == binding["port_id"])
        agent = next((row["l3_agent_id"] for row in l3 if row["router_id"] == router), None)
        binding["host"] = agent_hosts.get(agent, "")
    for table, rows in (("networks", nets), ("ml2_network_segments", segs), ("subnets", subnets),
                        ("routers", routers), ("ports", ports), ("ipallocations", allocs),
                        ("routerports", rports), ("ml2_port_bindings", bindings),
                        ("routerl3agentbindings", l3), ("securitygroups", sgs),
                        ("default_security_group", defaults), ("securitygrouprules", rules),
                        ("quotas", quotas)):
        _bulk(conn, table, rows)


def _guest_mac(marker: int, index: int) -> str:
    """Unique per guest (hash-derived MACs would collide among thousands of ports)."""
    return f"fa:16:3e:{marker | (index >> 16) & 0x3F:02x}:{(index >> 8) & 0xFF:02x}:{index & 0xFF:02x}"


def _guest_ports(world: World, cluster: Cluster, conn: sqlite3.Connection, guests: list[Guest]) -> None:
    ext = seed.find(conn, "networks", name="net04_ext")
    ext_net = ext[1]
    ext_subnet = seed.find(conn, "subnets", network_id=ext_net)[1]
    segments = dict(conn.execute("SELECT network_id, id FROM ml2_network_segments").fetchall())
    floating = world.networks["floating"]
    ports, allocs, bindings, levels, sgb, fips = [], [], [], [], [], []
    for guest in guests:
        project = guest.project
        guest.port_id = sid(cluster, "port", "vm", guest.uuid)
        guest.mac = _guest_mac(0x80, guest.index)
        guest.fixed_ip = str(ipaddress.ip_network(project.cidr).network_address + project.next_ip)
        project.next_ip += 1
        guest.fip = floating.address(FIP_START + guest.index)
        guest.fip_id = sid(cluster, "floatingip", guest.uuid)
        fip_port = sid(cluster, "port", "fip", guest.uuid)
        ports.append({"tenant_id": project.id, "id": guest.port_id, "name": "", "network_id": project.network_id,
                      "mac_address": guest.mac, "admin_state_up": 1, "status": "ACTIVE",
                      "device_id": guest.uuid, "device_owner": "compute:nova"})
        ports.append({"tenant_id": "", "id": fip_port, "name": "", "network_id": ext_net,
                      "mac_address": _guest_mac(0x40, guest.index), "admin_state_up": 1,
                      "status": "N/A", "device_id": guest.fip_id, "device_owner": "network:floatingip"})
        allocs.append({"port_id": guest.port_id, "ip_address": guest.fixed_ip, "subnet_id": project.subnet_id,
                       "network_id": project.network_id})
        allocs.append({"port_id": fip_port, "ip_address": guest.fip, "subnet_id": ext_subnet,
                       "network_id": ext_net})
        segment = segments.get(project.network_id)
        bindings.append({"port_id": guest.port_id, "host": guest.host.hostname, "vif_type": "ovs",
                         "driver": "openvswitch", "segment": segment, "vnic_type": "normal",
                         "vif_details": '{"port_filter": true, "ovs_hybrid_plug": true}', "profile": "{}"})
        levels.append({"port_id": guest.port_id, "host": guest.host.hostname, "level": 0,
                       "driver": "openvswitch", "segment_id": segment})
        for sg in project.secgroups:
            sgb.append({"port_id": guest.port_id, "security_group_id": sg})
        fips.append({"tenant_id": project.id, "id": guest.fip_id, "floating_ip_address": guest.fip,
                     "floating_network_id": ext_net, "floating_port_id": fip_port,
                     "fixed_port_id": guest.port_id, "fixed_ip_address": guest.fixed_ip,
                     "router_id": project.router_id, "last_known_router_id": project.router_id,
                     "status": "ACTIVE"})
    for table, rows in (("ports", ports), ("ipallocations", allocs), ("ml2_port_bindings", bindings),
                        ("ml2_port_binding_levels", levels), ("securitygroupportbindings", sgb),
                        ("floatingips", fips)):
        _bulk(conn, table, rows)


# --------------------------------------------------------------------------- cinder


def _cinder(world: World, cluster: Cluster, conn: sqlite3.Connection, projects: list[Project],
            guests: list[Guest], ceph: _CephBatch, now: str) -> int:
    host = seed.cinder_volume_host(world.cluster_release(cluster).version)
    volumes, attachments, quotas = [], [], []

    def volume(vol_id: str, project: Project, size: int, name: str, guest: Guest | None,
               mountpoint: str | None, bootable: bool) -> None:
        attached = guest is not None
        volumes.append({
            "created_at": now, "updated_at": now, "deleted": 0, "id": vol_id,
            "user_id": project.user_id, "project_id": project.id, "host": host, "size": size,
            "availability_zone": "nova", "instance_uuid": guest.uuid if guest else None,
            "attached_host": guest.host.hostname if guest else None, "mountpoint": mountpoint,
            "attach_time": now if attached else None, "status": "in-use" if attached else "available",
            "attach_status": "attached" if attached else "detached", "scheduled_at": now,
            "launched_at": now, "display_name": name, "display_description": "",
            "bootable": int(bootable), "provider_location": None})
        if attached:
            attachments.append({"id": sid(cluster, "attachment", vol_id), "created_at": now, "deleted": 0,
                                "volume_id": vol_id, "attached_host": guest.host.hostname,
                                "instance_uuid": guest.uuid, "mountpoint": mountpoint, "attach_time": now,
                                "attach_mode": "rw", "attach_status": "attached"})
        payload = _payload(vol_id, 8 * 1024)
        ceph.rbd("volumes", f"volume-{vol_id}", size * 1024 ** 3, payload)

    for guest in guests:
        if guest.boot_volume:
            volume(guest.boot_volume, guest.project, max(10, int(guest.flavor[4] or 0)),
                   f"{guest.name}-root", guest, "/dev/vda", True)
        if guest.data_volume:
            volume(guest.data_volume, guest.project, 20, f"{guest.name}-data", guest, "/dev/vdb", False)
    for project in projects[:len(PROJECTS)]:
        volume(sid(cluster, "volume", "spare", project.name), project, 5, f"{project.name}-spare", None,
               None, False)
        for resource, limit in CINDER_QUOTAS.items():
            quotas.append({"created_at": now, "deleted": 0, "project_id": project.id, "resource": resource,
                           "hard_limit": limit})
    _bulk(conn, "volumes", volumes)
    _bulk(conn, "volume_attachment", attachments)
    _bulk(conn, "quotas", quotas)
    return len(volumes)


# --------------------------------------------------------------------------- nova


def _network_info(guest: Guest) -> str:
    return json.dumps([{
        "id": guest.port_id, "address": guest.mac, "type": "ovs", "devname": f"tap{guest.port_id[:11]}",
        "ovs_interfaceid": guest.port_id, "active": True, "vnic_type": "normal",
        "network": {"id": guest.project.network_id, "label": f"{guest.project.name}-net",
                    "bridge": "br-int", "subnets": [{
                        "cidr": guest.project.cidr, "ips": [{
                            "address": guest.fixed_ip, "type": "fixed", "version": 4,
                            "floating_ips": [{"address": guest.fip, "type": "floating", "version": 4}]}]}]},
    }])


def _nova_rows(world: World, cluster: Cluster, conn: sqlite3.Connection, projects: list[Project],
               guests: list[Guest], images: list[dict[str, Any]], now: str) -> None:
    instances, caches, sysmeta, extra, bdms, actions = [], [], [], [], [], []
    for guest in guests:
        fid, fname, memory, vcpus, root_gb, flavorid = guest.flavor
        project = guest.project
        instances.append({
            "created_at": now, "updated_at": now, "id": guest.instance_id, "user_id": project.user_id,
            "project_id": project.id, "image_ref": "" if guest.boot_volume else guest.image["id"],
            "launch_index": 0, "key_name": f"{project.user}-key", "power_state": 1, "vm_state": "active",
            "memory_mb": memory, "vcpus": vcpus, "hostname": guest.name, "host": guest.host.hostname,
            "reservation_id": f"r-{guest.uuid[:8]}", "scheduled_at": now, "launched_at": now,
            "display_name": guest.name, "availability_zone": "nova", "locked": 0, "os_type": None,
            "launched_on": guest.host.hostname, "instance_type_id": fid, "vm_mode": None,
            "uuid": guest.uuid, "architecture": "x86_64", "root_device_name": "/dev/vda",
            "config_drive": "", "task_state": None, "progress": 0, "auto_disk_config": 0,
            "shutdown_terminate": 0, "disable_terminate": 0, "root_gb": root_gb, "ephemeral_gb": 0,
            "node": f"{guest.host.hostname}.domain.tld", "deleted": 0, "cleaned": 0})
        caches.append({"created_at": now, "updated_at": now, "network_info": _network_info(guest),
                       "instance_uuid": guest.uuid, "deleted": 0})
        meta = {"instance_type_id": fid, "instance_type_name": fname, "instance_type_memory_mb": memory,
                "instance_type_vcpus": vcpus, "instance_type_root_gb": root_gb,
                "instance_type_ephemeral_gb": 0, "instance_type_flavorid": flavorid,
                "instance_type_swap": 0, "instance_type_rxtx_factor": 1.0, "instance_type_vcpu_weight": None,
                "image_base_image_ref": guest.image["id"], "image_min_disk": guest.image["min_disk"],
                "image_min_ram": 0, "image_disk_format": guest.image["disk_format"],
                "image_container_format": "bare"}
        sysmeta += [{"created_at": now, "instance_uuid": guest.uuid, "key": k,
                     "value": None if v is None else str(v), "deleted": 0} for k, v in meta.items()]
        extra.append({"created_at": now, "deleted": 0, "instance_uuid": guest.uuid, "numa_topology": None,
                      "pci_requests": "[]",
                      "flavor": json.dumps({"cur": {"nova_object.name": "Flavor", "nova_object.data": {
                          "id": fid, "name": fname, "memory_mb": memory, "vcpus": vcpus, "root_gb": root_gb,
                          "flavorid": flavorid}}, "old": None, "new": None})})
        if guest.boot_volume:
            bdms.append({"created_at": now, "device_name": "/dev/vda", "delete_on_termination": 0,
                         "volume_id": guest.boot_volume, "instance_uuid": guest.uuid, "deleted": 0,
                         "source_type": "volume", "destination_type": "volume", "device_type": "disk",
                         "disk_bus": "virtio", "boot_index": 0, "image_id": None,
                         "connection_info": json.dumps({"driver_volume_type": "rbd", "data": {
                             "name": f"volumes/volume-{guest.boot_volume}"}})})
        else:
            bdms.append({"created_at": now, "device_name": "/dev/vda", "delete_on_termination": 1,
                         "volume_id": None, "instance_uuid": guest.uuid, "deleted": 0, "source_type": "image",
                         "destination_type": "local", "device_type": "disk", "disk_bus": "virtio",
                         "boot_index": 0, "image_id": guest.image["id"], "connection_info": None})
        if guest.data_volume:
            bdms.append({"created_at": now, "device_name": "/dev/vdb", "delete_on_termination": 0,
                         "volume_id": guest.data_volume, "instance_uuid": guest.uuid, "deleted": 0,
                         "source_type": "volume", "destination_type": "volume", "device_type": "disk",
                         "disk_bus": "virtio", "boot_index": None, "image_id": None,
                         "connection_info": json.dumps({"driver_volume_type": "rbd", "data": {
                             "name": f"volumes/volume-{guest.data_volume}"}})})
        actions.append({"created_at": now, "action": "create", "instance_uuid": guest.uuid,
                        "request_id": f"req-{sid(cluster, 'request', guest.uuid)}", "user_id": project.user_id,
                        "project_id": project.id, "start_time": now, "finish_time": now, "deleted": 0})
    quotas, keypairs = [], []
    for project in projects:
        for resource, limit in NOVA_QUOTAS.items():
            quotas.append({"created_at": now, "project_id": project.id, "resource": resource,
                           "hard_limit": limit, "deleted": 0})
        public = f"ssh-rsa AAAAB3NzaC1yc2E{hashlib.sha256(project.user.encode()).hexdigest()} {project.user}"
        keypairs.append({"created_at": now, "name": f"{project.user}-key", "user_id": project.user_id,
                         "fingerprint": ":".join(hashlib.md5(public.encode()).hexdigest()[i:i + 2]  # noqa: S324
                                                 for i in range(0, 32, 2)),
                         "public_key": public, "deleted": 0, "type": "ssh"})
    for table, rows in (("instances", instances), ("instance_info_caches", caches),
                        ("instance_system_metadata", sysmeta), ("instance_extra", extra),
                        ("block_device_mapping", bdms), ("instance_actions", actions), ("quotas", quotas),
                        ("key_pairs", keypairs)):
        _bulk(conn, table, rows)
    _update_compute_nodes(conn, guests)


def _update_compute_nodes(conn: sqlite3.Connection, guests: list[Guest]) -> None:
    """The resource tracker's view of each compute after the guests were placed."""
    by_host: dict[str, list[Guest]] = {}
    for guest in guests:
        by_host.setdefault(guest.host.hostname, []).append(guest)
    for host, on_host in by_host.items():
        ram = sum(g.flavor[2] for g in on_host)
        vcpus = sum(g.flavor[3] for g in on_host)
        conn.execute("UPDATE compute_nodes SET vcpus_used = vcpus_used + ?, memory_mb_used = memory_mb_used + ?, "
                     "free_ram_mb = free_ram_mb - ?, running_vms = running_vms + ? "
                     "WHERE hypervisor_hostname = ? AND deleted = 0",
                     (vcpus, ram, ram, len(on_host), f"{host}.domain.tld"))


# --------------------------------------------------------------------------- heat


def _heat(world: World, cluster: Cluster, conn: sqlite3.Connection, projects: list[Project],
          guests: list[Guest], now: str) -> None:
    web = next(p for p in projects if p.name == "web")
    servers = [g for g in guests if g.project is web][:2]
    template = {"heat_template_version": "2013-05-23", "description": "Two web servers",
                "resources": {f"server{i}": {"type": "OS::Nova::Server", "properties": {
                    "image": g.image["name"], "flavor": g.flavor[1], "key_name": f"{web.user}-key"}}
                    for i, g in enumerate(servers)}}
    template_id = conn.execute('INSERT INTO raw_template (created_at, template, files) VALUES (?, ?, ?)',
                               (now, json.dumps(template), "{}")).lastrowid
    creds_id = conn.execute("INSERT INTO user_creds (created_at, username, tenant, tenant_id, auth_url) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (now, web.user, web.name, web.id,
                             f"http://{cluster.vips.get('management', '')}:5000/v2.0")).lastrowid
    stack_id = sid(cluster, "stack", "web-stack")
    seed.insert(conn, "stack", {"id": stack_id, "created_at": now, "updated_at": now, "name": "web-stack",
                                "raw_template_id": template_id, "user_creds_id": creds_id,
                                "username": web.user, "status": "COMPLETE",
                                "status_reason": "Stack CREATE completed successfully",
                                "parameters": json.dumps({"parameters": {}}), "timeout": 60,
                                "tenant": web.id, "disable_rollback": 1, "action": "CREATE",
                                "backup": 0, "nested_depth": 0})
    resources, events = [], []
    for i, guest in enumerate(servers):
        resources.append({"id": sid(cluster, "resource", stack_id, str(i)), "nova_instance": guest.uuid,
                          "name": f"server{i}", "created_at": now, "updated_at": now, "action": "CREATE",
                          "status": "COMPLETE", "status_reason": "state changed", "stack_id": stack_id,
                          "rsrc_metadata": "{}", "properties_data": "{}"})
        for status in ("IN_PROGRESS", "COMPLETE"):
            events.append({"uuid": sid(cluster, "event", stack_id, str(i), status), "stack_id": stack_id,
                           "created_at": now, "updated_at": now, "resource_action": "CREATE",
                           "resource_status": status, "resource_name": f"server{i}",
                           "physical_resource_id": guest.uuid, "resource_status_reason": "state changed",
                           "resource_type": "OS::Nova::Server"})
    _bulk(conn, "resource", resources)
    _bulk(conn, "event", events)
