"""Deploying an env: PUT changes / provision / deploy, and the per-node deployment facts.

The facts (`orchestrator/deployment[/defaults]`) are what Astute would get for
each node. An uploaded `network_scheme` replaces the default one when the node
is deployed: removing the `add-patch` steps of br-mgmt/br-ex deploys the node
isolated from the physical management and public networks, `add-port` steps
of type gre build an overlay between such nodes (see fuellab.network).
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from aiohttp import web

from fuellab import install
from fuellab.fuel import membership, orchestrator, serializers
from fuellab.fuel.errors import bad_request, id_list, read_json
from fuellab.fuel.handlers.common import API, cluster_or_404, conflict_if_busy, flag, lab_of, ok
from fuellab.fuel.orchestrator import Phase
from fuellab.world import Cluster, Node, World


def _roles(node: Node) -> list[str]:
    return sorted(set(node.roles) | set(node.pending_roles))


def _version(world: World, cluster: Cluster) -> str:
    return world.cluster_release(cluster).version


def needs_provision(node: Node, version: str) -> bool:
    return (node.status == "discover" or node.release != version
            or (node.status == "error" and node.error_type == "provision"))


def needs_deploy(node: Node, version: str) -> bool:
    return (node.pending_addition or bool(node.pending_roles) or needs_provision(node, version)
            or node.status in ("provisioned", "error"))


def _refuse_runs(request: web.Request) -> None:
    if flag(request, "dry_run") or flag(request, "noop_run"):
        raise bad_request("dry and noop runs are not simulated by the lab: they would report "
                          "nothing a real run shows")


def _requested_nodes(request: web.Request, world: World, cluster: Cluster) -> list[Node]:
    ids = id_list(request.query.get("nodes"))
    if not ids:
        raise bad_request("name the nodes: ?nodes=1,2")
    nodes = []
    for node_id in ids:
        node = world.nodes.get(node_id)
        if node is None or node.cluster != cluster.id:
            raise bad_request(f"Node {node_id} does not belong to environment {cluster.id}")
        membership.ensure_idle(node)
        if not _roles(node):
            raise bad_request(f"Node {node.id} has no roles; assign some first")
        nodes.append(node)
    return nodes


async def deploy_changes(request: web.Request) -> web.Response:
    lab = lab_of(request)
    world = lab.world
    cluster = cluster_or_404(request)
    conflict_if_busy(lab, cluster)
    _refuse_runs(request)
    version = _version(world, cluster)
    nodes = world.cluster_nodes(cluster.id)
    deleting = [n for n in nodes if n.pending_deletion]
    active = [n for n in nodes if not n.pending_deletion]
    to_provision = [n for n in active if needs_provision(n, version)]
    to_deploy = [n for n in active if needs_deploy(n, version)]
    if not (deleting or to_provision or to_deploy):
        raise bad_request("No changes to deploy")
    for node in deleting + to_deploy:
        membership.ensure_idle(node)
    for node in to_deploy:
        if not _roles(node):
            raise bad_request(f"Node {node.id} has no roles; assign some or remove it from the environment")
    phases = []
    if deleting:
        phases.append(Phase("node_deletion", [n.id for n in deleting]))
    if to_provision:
        phases.append(Phase("provision", [n.id for n in to_provision], version))
    if to_deploy:
        phases.append(Phase("deployment", [n.id for n in to_deploy]))
    task = orchestrator.start(lab, cluster, "deploy", phases)
    return ok(serializers.task(task), status=202)


async def provision_nodes(request: web.Request) -> web.Response:
    lab = lab_of(request)
    cluster = cluster_or_404(request)
    conflict_if_busy(lab, cluster)
    nodes = _requested_nodes(request, lab.world, cluster)
    phase = Phase("provision", [n.id for n in nodes], _version(lab.world, cluster))
    task = orchestrator.start(lab, cluster, "provision", [phase])
    return ok(serializers.task(task), status=202)


async def deploy_nodes(request: web.Request) -> web.Response:
    lab = lab_of(request)
    world = lab.world
    cluster = cluster_or_404(request)
    conflict_if_busy(lab, cluster)
    _refuse_runs(request)
    nodes = _requested_nodes(request, world, cluster)
    version = _version(world, cluster)
    for node in nodes:
        if node.release != version or node.status == "discover":
            raise bad_request(f"Node {node.id} ({node.hostname}) is not provisioned with release "
                              f"{version} (it runs {node.release or 'the bootstrap image'}): "
                              "provision it first")
    task = orchestrator.start(lab, cluster, "deployment", [Phase("deployment", [n.id for n in nodes])])
    return ok(serializers.task(task), status=202)


# --------------------------------------------------------------------------- facts


def _prefix(world: World, network: str) -> int:
    return ipaddress.ip_network(world.networks[network].cidr).prefixlen


def default_scheme(world: World, cluster: Cluster, node: Node, roles: list[str]) -> dict[str, Any]:
    scheme = copy.deepcopy(install.default_network_scheme(world, node, roles))
    scheme["endpoints"]["br-fw-admin"] = {"IP": [f"{node.admin_ip}/{_prefix(world, 'admin')}"]}
    if "br-ex" in scheme["endpoints"]:
        scheme["endpoints"]["br-ex"]["gateway"] = world.networks["public"].address(1)
    else:
        scheme["endpoints"]["br-fw-admin"]["gateway"] = world.master_ip
    scheme["roles"]["fw-admin"] = "br-fw-admin"
    return scheme


def _role_names(world: World, cluster: Cluster, node: Node) -> list[str]:
    controllers = [n.id for n in world.cluster_nodes(cluster.id) if "controller" in _roles(n)]
    primary = min(controllers) if controllers else None
    return ["primary-controller" if r == "controller" and node.id == primary else r for r in _roles(node)]


def default_facts(world: World, cluster: Cluster, nodes: list[Node]) -> list[dict[str, Any]]:
    """Astute's deployment info for `nodes`; Nailgun assigns their addresses to compute it."""
    members = [n for n in world.cluster_nodes(cluster.id) if _roles(n) and not n.pending_deletion]
    for node in members:
        install.assign_addresses(world, cluster, node, _roles(node))
    release = world.cluster_release(cluster)
    attrs = cluster.attributes
    common = {
        "deployment_id": cluster.id,
        "deployment_mode": cluster.mode,
        "openstack_version": release.version,
        "fuel_version": cluster.fuel_version,
        "master_ip": world.master_ip,
        "management_vip": cluster.vips.get("management"),
        "public_vip": cluster.vips.get("public"),
        "nodes": [
            {"uid": str(n.id), "name": n.hostname, "fqdn": serializers.fqdn(n), "role": role,
             "internal_address": n.ips.get("management"), "public_address": n.ips.get("public"),
             "storage_address": n.ips.get("storage"), "swift_zone": str(n.id)}
            for n in members for role in _role_names(world, cluster, n)
        ],
        "storage": {k: v.get("value") for k, v in attrs.get("storage", {}).items()},
        "quantum_settings": {
            "L2": {"segmentation_type": cluster.net_segment_type},
            "predefined_networks": {
                "net04_ext": {"L2": {"network_type": "flat", "physnet": "physnet1"},
                              "L3": {"floating": "floating range"}, "shared": False},
                "net04": {"L2": {"network_type": cluster.net_segment_type},
                          "L3": {"subnet": cluster.network_config.get("networking_parameters", {})
                                 .get("internal_cidr")}, "shared": False},
            },
        },
    }
    out = []
    for node in nodes:
        roles = _roles(node)
        if not roles:
            continue
        scheme = default_scheme(world, cluster, node, roles)
        for role in _role_names(world, cluster, node):
            out.append({**copy.deepcopy(common), "uid": str(node.id), "role": role,
                        "fqdn": serializers.fqdn(node), "network_scheme": copy.deepcopy(scheme)})
    world.changed()
    return out


def _facts_nodes(request: web.Request, world: World, cluster: Cluster) -> list[Node]:
    ids = id_list(request.query.get("nodes"))
    if not ids:
        return [n for n in world.cluster_nodes(cluster.id) if not n.pending_deletion]
    nodes = []
    for node_id in ids:
        node = world.nodes.get(node_id)
        if node is None or node.cluster != cluster.id:
            raise bad_request(f"Node {node_id} does not belong to environment {cluster.id}")
        nodes.append(node)
    return nodes


async def get_default_facts(request: web.Request) -> web.Response:
    world = lab_of(request).world
    cluster = cluster_or_404(request)
    return ok(default_facts(world, cluster, _facts_nodes(request, world, cluster)))


async def get_facts(request: web.Request) -> web.Response:
    world = lab_of(request).world
    cluster = cluster_or_404(request)
    wanted = {str(n.id) for n in _facts_nodes(request, world, cluster)} if request.query.get("nodes") else None
    uploaded = cluster.deployment_info or {}
    return ok([entry for uid in sorted(uploaded, key=int) if wanted is None or uid in wanted
               for entry in uploaded[uid]])


async def put_facts(request: web.Request) -> web.Response:
    lab = lab_of(request)
    world = lab.world
    cluster = cluster_or_404(request)
    conflict_if_busy(lab, cluster)
    body = await read_json(request, (list,))
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in body:
        if not isinstance(entry, dict) or "uid" not in entry:
            raise bad_request("each deployment info entry must be an object with the node's uid")
        uid = str(entry["uid"])
        node = world.nodes.get(int(uid)) if uid.isdigit() else None
        if node is None or node.cluster != cluster.id:
            raise bad_request(f"Node {uid} does not belong to environment {cluster.id}")
        scheme = entry.get("network_scheme")
        if scheme is not None and not (isinstance(scheme, dict)
                                       and isinstance(scheme.get("transformations", []), list)):
            raise bad_request(f"network_scheme of node {uid} must be an object with a list of transformations")
        grouped.setdefault(uid, []).append(entry)
    cluster.deployment_info = grouped
    world.changed()
    return ok([e for uid in sorted(grouped, key=int) for e in grouped[uid]])


async def delete_facts(request: web.Request) -> web.Response:
    lab = lab_of(request)
    cluster = cluster_or_404(request)
    conflict_if_busy(lab, cluster)
    cluster.deployment_info = None
    lab.world.changed()
    return web.Response(status=204)


C = API + r"/clusters/{cluster_id:\d+}"
ROUTES = [
    ("PUT", f"{C}/changes", deploy_changes),
    ("PUT", f"{C}/provision", provision_nodes),
    ("PUT", f"{C}/deploy", deploy_nodes),
    ("GET", f"{C}/orchestrator/deployment", get_facts),
    ("PUT", f"{C}/orchestrator/deployment", put_facts),
    ("DELETE", f"{C}/orchestrator/deployment", delete_facts),
    ("GET", f"{C}/orchestrator/deployment/defaults", get_default_facts),
]
