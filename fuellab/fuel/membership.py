"""Which env a node belongs to and with which roles: what assignment changes before any task.

Nailgun's assignment only records intent (pending roles, pending addition or
deletion); provisioning and deployment (fuellab.fuel.orchestrator) act on it.
"""

from __future__ import annotations

from typing import Any

from fuellab.fuel.errors import ApiError, bad_request
from fuellab.fuel.serializers import ADMIN_NETWORK, BUSY_NODE
from fuellab.world import Cluster, Node, World


def validate_roles(world: World, cluster: Cluster, roles: Any) -> list[str]:
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise bad_request("roles must be a list of role names")
    if not roles:
        raise bad_request("at least one role is needed")
    release = world.cluster_release(cluster)
    unknown = [r for r in roles if r not in release.roles]
    if unknown:
        raise bad_request(f"Roles {', '.join(unknown)} are not valid for release {release.version} "
                          f"(valid: {', '.join(release.roles)})")
    if "controller" in roles and "compute" in roles:
        raise bad_request("Role controller conflicts with role compute")
    return sorted(set(roles))


def ensure_idle(node: Node) -> None:
    if node.status in BUSY_NODE:
        raise ApiError(409, f"Node {node.id} ({node.hostname}) is {node.status}; wait for its task to end")


def default_networks(world: World, cluster: Cluster, node: Node, nic: str, roles: list[str]) -> list[str]:
    """The NIC mapping Fuel proposes: admin on the PXE NIC, each network on its wire's NIC."""
    from fuellab import install

    names = [ADMIN_NETWORK] if nic == world.networks["admin"].nic else []
    for net_name in install.networks_for(roles):
        net = world.networks[net_name]
        if net.nic == nic:
            names.append(net_name)
    return names


def set_default_interfaces(world: World, cluster: Cluster, node: Node, roles: list[str]) -> None:
    for iface in node.interfaces:
        iface.assigned_networks = default_networks(world, cluster, node, iface.name, roles)


def assign(world: World, cluster: Cluster, node: Node, roles: list[str]) -> None:
    """A discovered node joins the env with pending roles (clusters/{id}/assignment)."""
    ensure_idle(node)
    if node.cluster is not None and node.cluster != cluster.id:
        raise bad_request(f"Node {node.id} is already assigned to environment {node.cluster}")
    if node.cluster is None and node.status != "discover":
        raise bad_request(f"Node {node.id} is {node.status}; only discovered nodes can be assigned")
    node.cluster = cluster.id
    node.pending_roles = roles
    node.pending_addition = node.status == "discover" or node.pending_addition
    node.group_id = cluster.id
    set_default_interfaces(world, cluster, node, sorted(set(roles) | set(node.roles)))
    world.changed()


def unassign(world: World, cluster: Cluster, node: Node) -> None:
    """Leave the env: at once if nothing was installed yet, else at the next deployment."""
    ensure_idle(node)
    if node.cluster != cluster.id:
        raise bad_request(f"Node {node.id} does not belong to environment {cluster.id}")
    if node.status == "discover":
        node.cluster = None
        node.pending_roles = []
        node.pending_addition = False
        node.group_id = None
        node.ips = {"admin": node.admin_ip}
        for iface in node.interfaces:
            iface.assigned_networks = [ADMIN_NETWORK] if iface.name == world.networks["admin"].nic else []
    else:
        node.pending_deletion = True
    world.changed()
