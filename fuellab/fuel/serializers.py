"""JSON shapes of Nailgun objects as Fuel 7.0 serves them (see lab-protocols.md)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from fuellab.world import Cluster, Node, Release, Task, World

# Lab time 0 is shown as this date; timestamps move forward in lab seconds from it.
LAB_EPOCH = dt.datetime(2016, 3, 1, tzinfo=dt.UTC)

BUSY_NODE = ("provisioning", "deploying", "removing")
ROLE_NAMES = {"controller": "Controller", "compute": "Compute", "ceph-osd": "Storage - Ceph OSD"}
ADMIN_NETWORK = "fuelweb_admin"


def lab_timestamp(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return (LAB_EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")


# --------------------------------------------------------------------------- releases


def release(rel: Release) -> dict[str, Any]:
    return {
        "id": rel.id,
        "name": rel.name,
        "version": rel.version,
        "operating_system": rel.operating_system,
        "state": rel.state,
        "is_deployable": rel.is_deployable,
        "description": rel.description,
        "roles": list(rel.roles),
        "roles_metadata": {r: {"name": ROLE_NAMES.get(r, r), "description": ROLE_NAMES.get(r, r)}
                           for r in rel.roles},
        "modes_allowed": ["ha_compact"],
        "can_update_from_versions": [],
    }


def release_version_key(version: str) -> tuple[int, ...]:
    """`2014.2.2-6.1` -> (6, 1): releases compare by their Fuel version."""
    fuel = version.rsplit("-", 1)[-1]
    try:
        return tuple(int(p) for p in fuel.split("."))
    except ValueError:
        return (0,)


# --------------------------------------------------------------------------- clusters


def is_locked(world: World, cluster: Cluster) -> bool:
    """Nailgun: unlocked only while new/stopped and no node of it is ready."""
    if cluster.status in ("new", "stopped"):
        return any(n.status == "ready" for n in world.cluster_nodes(cluster.id))
    return True


def changes(world: World, cluster: Cluster) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if cluster.status == "new":
        out += [{"name": "attributes", "node_id": None}, {"name": "networks", "node_id": None}]
    for node in world.cluster_nodes(cluster.id):
        if node.pending_addition or node.pending_roles:
            out += [{"name": "disks", "node_id": node.id}, {"name": "interfaces", "node_id": node.id}]
    return out


def cluster(world: World, c: Cluster) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "mode": c.mode,
        "status": c.status,
        "net_provider": c.net_provider,
        "net_segment_type": c.net_segment_type,
        "release_id": c.release_id,
        "pending_release_id": None,
        "fuel_version": c.fuel_version,
        "changes": changes(world, c),
        "is_locked": is_locked(world, c),
        "is_customized": bool(c.deployment_info),
        "grouping": "roles",
    }


# --------------------------------------------------------------------------- nodes


def _network_entry(world: World, name: str, address: str, dev: str, vlan: int | None) -> dict[str, Any]:
    net = world.networks["admin" if name == ADMIN_NETWORK else name]
    network = ipaddress.ip_network(net.cidr)
    entry: dict[str, Any] = {
        "name": name,
        "ip": f"{address}/{network.prefixlen}",
        "dev": dev,
        "vlan": vlan,
        "netmask": str(network.netmask),
        "brd": str(network.broadcast_address),
    }
    if name == "public":
        entry["gateway"] = net.address(1)
    return entry


def network_data(world: World, node: Node) -> list[dict[str, Any]]:
    out = [_network_entry(world, ADMIN_NETWORK, node.admin_ip, world.networks["admin"].nic, None)]
    for name, address in sorted(node.ips.items()):
        if name == "admin" or name not in world.networks:
            continue
        net = world.networks[name]
        out.append(_network_entry(world, name, address, net.nic, net.vlan))
    return out


def node_meta(node: Node) -> dict[str, Any]:
    return {
        "disks": [
            {"name": d.name, "disk": d.name, "size": d.size * 1024 * 1024, "model": "QEMU HARDDISK",
             "removable": "", "paths": f"/dev/disk/by-path/pci-0000:00:0{i + 7}.0-virtio-pci-virtio{i + 2}"}
            for i, d in enumerate(node.disks)
        ],
        "interfaces": [
            {"name": i.name, "mac": i.mac, "max_speed": i.speed, "current_speed": i.speed if i.up else None,
             "state": "up" if i.up else "down", "driver": "virtio_net", "pxe": i.name == "eth0"}
            for i in node.interfaces
        ],
        "memory": {"total": node.memory_mb * 1024 * 1024},
        "cpu": {"total": node.cpu, "real": max(1, node.cpu // 2),
                "spec": [{"model": "QEMU Virtual CPU version 2.0.0", "frequency": 2400}] * node.cpu},
        "system": {"fqdn": fqdn(node), "manufacturer": "QEMU", "product": "Standard PC (i440FX + PIIX, 1996)"},
    }


def fqdn(node: Node) -> str:
    return f"{node.hostname}.domain.tld"


def node(world: World, n: Node) -> dict[str, Any]:
    return {
        "id": n.id,
        "name": n.hostname,
        "hostname": n.hostname,
        "fqdn": fqdn(n),
        "ip": n.admin_ip,
        "mac": n.mac,
        "cluster": n.cluster,
        "roles": list(n.roles),
        "pending_roles": list(n.pending_roles),
        "status": n.status,
        "progress": n.progress,
        "online": n.online,
        "error_type": n.error_type,
        "pending_addition": n.pending_addition,
        "pending_deletion": n.pending_deletion,
        "meta": node_meta(n),
        "network_data": network_data(world, n),
        "group_id": n.group_id,
        "labels": dict(n.labels),
        "os_platform": "ubuntu",
        "platform_name": None,
        "manufacturer": "QEMU",
        "kernel_params": None,
    }


def disks(n: Node) -> list[dict[str, Any]]:
    return [
        {
            "id": f"disk/by-path/pci-0000:00:0{i + 7}.0-virtio-pci-virtio{i + 2}",
            "name": d.name,
            "size": d.size,
            "extra": [f"disk/by-id/virtio-{n.hostname}-{d.name}"],
            "volumes": [{"name": v.name, "size": v.size, "keep_data": v.keep_data} for v in d.volumes],
        }
        for i, d in enumerate(n.disks)
    ]


def network_ids(c: Cluster | None) -> dict[str, int]:
    if c is None:
        return {ADMIN_NETWORK: 1}
    return {net["name"]: net["id"] for net in c.network_config.get("networks", [])}


def interfaces(n: Node, c: Cluster | None) -> list[dict[str, Any]]:
    ids = network_ids(c)
    return [
        {
            "id": index + 1,
            "name": i.name,
            "mac": i.mac,
            "type": "ether",
            "state": "up" if i.up else "down",
            "max_speed": i.speed,
            "current_speed": i.speed if i.up else None,
            "pxe": i.name == "eth0",
            "assigned_networks": [{"id": ids.get(name), "name": name} for name in i.assigned_networks],
        }
        for index, i in enumerate(n.interfaces)
    ]


# --------------------------------------------------------------------------- tasks


def task(t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "uuid": t.uuid,
        "cluster": t.cluster,
        "name": t.name,
        "status": t.status,
        "progress": t.progress,
        "message": t.message,
        "result": t.result,
        "time_start": lab_timestamp(t.time_start),
        "time_end": lab_timestamp(t.time_end),
        "parent_id": None,
        "graph_type": None,
        "dry_run": False,
    }
