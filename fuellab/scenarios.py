"""Scenarios: the datacenter a new lab starts with.

`ha-61` (the default): a Fuel 7.0 master managing env 1 "prod", an operational
6.1 (Juno) ha_compact env with Neutron VLAN and Ceph for volumes, images,
ephemeral and objects, on Ubuntu with KVM: 3 controllers, 3 computes, 3
ceph-osd nodes with 2 OSD disks each, plus 3 discovered, unallocated nodes for
the seed controllers. Sizes are knobs, so the same scenario scales to hundreds
of nodes. The env is built by the same provisioning and deployment effects the
Fuel orchestrator applies, so the nodes hold what a deployment writes.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from typing import Any

from fuellab import configs, install, releases
from fuellab.world import Cluster, Disk, Interface, Node, Release, Volume, World, default_networks

GIB = 1024

DEFAULT_KNOBS: dict[str, int] = {
    "controllers": 3,
    "computes": 3,
    "osd_nodes": 3,
    "osd_disks": 2,
    "free_nodes": 3,
    "vms": 12,
}


def _mac(node_id: int, nic: int) -> str:
    return f"52:54:00:{(node_id >> 8) & 0xFF:02x}:{node_id & 0xFF:02x}:{nic:02x}"


def _disks(role: str, osd_disks: int) -> list[Disk]:
    if role == "controller":
        return [Disk("sda", 200 * GIB, [Volume("os", 50 * GIB), Volume("mysql", 20 * GIB),
                                         Volume("logs", 10 * GIB), Volume("image", 100 * GIB)])]
    if role == "compute":
        return [Disk("sda", 500 * GIB, [Volume("os", 50 * GIB), Volume("vm", 440 * GIB)])]
    if role == "ceph-osd":
        disks = [Disk("sda", 100 * GIB, [Volume("os", 50 * GIB)])]
        for i in range(osd_disks):
            # Fuel marks Ceph partitions keep_data only when asked to (the upgrade does it).
            disks.append(Disk(f"sd{chr(ord('b') + i)}", 1000 * GIB, [Volume("ceph", 990 * GIB)]))
        return disks
    return [Disk("sda", 500 * GIB, [Volume("os", 50 * GIB), Volume("vm", 440 * GIB)]),
            Disk("sdb", 1000 * GIB, [Volume("ceph", 990 * GIB)])]


def new_node(world: World, role: str, osd_disks: int = 2) -> Node:
    node_id = world.next_id("node")
    node = Node(
        id=node_id,
        hostname=f"node-{node_id}",
        mac=_mac(node_id, 0),
        interfaces=[Interface(f"eth{i}", _mac(node_id, i)) for i in range(4)],
        disks=_disks(role, osd_disks),
        cpu=24 if role == "compute" else 8,
        memory_mb=131072 if role == "compute" else 32768,
    )
    node.interfaces[0].assigned_networks = ["fuelweb_admin"]
    node.ips["admin"] = world.networks["admin"].address(2 + node_id)  # .2 is the master
    world.nodes[node_id] = node
    world.changed()
    return node


def bootstrap(world: World, node: Node) -> None:
    """A discovered node runs Fuel's bootstrap image, reachable over SSH, with no release."""
    install.provision(world, node, releases.KILO)
    root = world.rootfs(node)
    (root / "etc/fuel_release").unlink()
    install.write(root, "/etc/nailgun-agent/config.yaml", f"url: http://{world.master_ip}:8000/api\n")
    node.release = None
    node.status = "discover"
    node.progress = 0
    world.changed()


def env_attributes(release_version: str) -> dict[str, Any]:
    """The `editable` attributes that define the env's architecture options."""
    return {
        "common": {
            "libvirt_type": {"value": "kvm", "type": "radio", "label": "Hypervisor type"},
            "debug": {"value": False, "type": "checkbox", "label": "OpenStack debug logging"},
            "auto_assign_floating_ip": {"value": False, "type": "checkbox"},
        },
        "storage": {
            "volumes_lvm": {"value": False, "type": "checkbox"},
            "volumes_ceph": {"value": True, "type": "checkbox", "label": "Ceph RBD for volumes (Cinder)"},
            "images_ceph": {"value": True, "type": "checkbox", "label": "Ceph RBD for images (Glance)"},
            "ephemeral_ceph": {"value": True, "type": "checkbox", "label": "Ceph RBD for ephemeral volumes (Nova)"},
            "objects_ceph": {"value": True, "type": "checkbox", "label": "Ceph RadosGW for objects"},
            "osd_pool_size": {"value": "2", "type": "text", "label": "Ceph object replication factor"},
        },
        "additional_components": {
            "sahara": {"value": False, "type": "checkbox"},
            "murano": {"value": False, "type": "checkbox"},
            "ceilometer": {"value": False, "type": "checkbox"},
            "heat": {"value": True, "type": "hidden"},
        },
        "provision": {"method": {"value": "image", "type": "hidden"}},
        "public_network_assignment": {"assign_to_all_nodes": {"value": False, "type": "checkbox"}},
        "kernel_params": {"kernel": {"value": "console=ttyS0,9600 console=tty0 net.ifnames=0 biosdevname=0 rootdelay=90 nomodeset", "type": "text"}},
        "release": {"version": {"value": release_version, "type": "hidden"}},
    }


def network_configuration(world: World) -> dict[str, Any]:
    nets = []
    for i, net in enumerate(world.networks.values(), start=1):
        first = net.address(install.NODE_IP_START if net.name != "floating" else 1)
        nets.append({
            "id": i,
            "name": net.name if net.name != "admin" else "fuelweb_admin",
            "cidr": net.cidr,
            "vlan_start": net.vlan,
            "gateway": net.address(1) if net.name in ("public", "floating") else None,
            "ip_ranges": [[first, net.address(60000)]],
            "meta": {"notation": "ip_ranges", "use_gateway": net.name == "public"},
            "group_id": 1,
        })
    floating = world.networks["floating"]
    return {
        "networks": [n for n in nets if n["name"] != "floating"],
        "networking_parameters": {
            "segmentation_type": "vlan",
            "net_l23_provider": "ovs",
            "vlan_range": [1000, 1030],
            "base_mac": "fa:16:3e:00:00:00",
            "floating_ranges": [[floating.address(1), floating.address(60000)]],
            "internal_cidr": "192.168.111.0/24",
            "internal_gateway": "192.168.111.1",
            "dns_nameservers": ["8.8.4.4", "8.8.8.8"],
        },
    }


def new_cluster(world: World, name: str, release: Release) -> Cluster:
    cluster = Cluster(
        id=world.next_id("cluster"),
        name=name,
        release_id=release.id,
        fuel_version=release.version.split("-")[-1],
        attributes=env_attributes(release.version),
        generated=configs.generate_secrets(),
        network_config=network_configuration(world),
    )
    world.clusters[cluster.id] = cluster
    world.changed()
    return cluster


def add_releases(world: World) -> dict[str, Release]:
    out = {}
    for version, state in ((releases.JUNO, "manageonly"), (releases.KILO, "available")):
        spec = releases.spec(version)
        rel = Release(
            id=world.next_id("release"),
            name=spec.name,
            version=version,
            state=state,
            # A 7.0 master keeps managing 6.1 envs but deploys new envs only on 7.0.
            is_deployable=state == "available",
            description=f"OpenStack {spec.openstack} ({spec.codename}) on Ubuntu 14.04",
            roles=list(releases.ROLES),
        )
        world.releases[rel.id] = rel
        out[version] = rel
    return out


def deploy_env(world: World, cluster: Cluster, roles: list[tuple[Node, str]]) -> None:
    version = world.cluster_release(cluster).version
    for node, role in roles:
        node.cluster = cluster.id
        node.pending_roles = [role]
        install.provision(world, node, version)
        node.pending_roles = [role]
        install.assign_addresses(world, cluster, node, [role])
    # Deploy once every address is known, so configs list all controllers.
    for node, _ in roles:
        install.deploy(world, cluster, node)
    cluster.status = "operational"
    world.changed()


def ha_61(world: World, knobs: dict[str, int]) -> None:
    k = {**DEFAULT_KNOBS, **knobs}
    rels = add_releases(world)
    world.meta["master_version"] = "7.0"
    cluster = new_cluster(world, "prod", rels[releases.JUNO])
    world.meta["default_env"] = cluster.id
    members: list[tuple[Node, str]] = []
    for role, count in (("controller", k["controllers"]), ("compute", k["computes"]),
                        ("ceph-osd", k["osd_nodes"])):
        for _ in range(count):
            members.append((new_node(world, role, k["osd_disks"]), role))
    deploy_env(world, cluster, members)
    from fuellab import content

    content.populate(world, cluster, k["vms"])  # tenants' projects, networks, VMs, volumes, stack
    for _ in range(k["free_nodes"]):
        bootstrap(world, new_node(world, "controller"))
    world.meta["knobs"] = k


SCENARIOS: dict[str, Callable[[World, dict[str, int]], None]] = {"ha-61": ha_61}


def build(world: World, name: str, knobs: dict[str, int], prefix: int) -> None:
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    nodes_dir = world.dir / "nodes"
    if nodes_dir.exists():
        shutil.rmtree(nodes_dir)
    world.networks = default_networks(prefix)
    world.meta["master_ip"] = world.networks["admin"].address(2)
    world.meta["scenario"] = name
    SCENARIOS[name](world, copy.deepcopy(knobs))
    world.changed()
