"""Environments: create, show, rename, delete, attributes, network configuration, node membership."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from aiohttp import web

from fuellab import scenarios
from fuellab.fuel import membership, orchestrator, serializers
from fuellab.fuel.errors import ApiError, bad_request, int_param, read_json
from fuellab.fuel.handlers.common import (
    API,
    cluster_or_404,
    conflict_if_busy,
    flag,
    lab_of,
    ok,
)
from fuellab.fuel.orchestrator import Phase
from fuellab.world import Cluster, World

NET_PROVIDERS = ("neutron",)
SEGMENT_TYPES = ("vlan", "gre", "tun")


def name_taken(world: World, name: str, other_than: int | None = None) -> bool:
    return any(c.name == name and c.id != other_than for c in world.clusters.values())


async def list_clusters(request: web.Request) -> web.Response:
    world = lab_of(request).world
    return ok([serializers.cluster(world, c) for c in sorted(world.clusters.values(), key=lambda c: c.id)])


async def create_cluster(request: web.Request) -> web.Response:
    lab = lab_of(request)
    world = lab.world
    body = await read_json(request, (dict,))
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name is required")
    if name_taken(world, name):
        raise ApiError(409, f"Environment with this name '{name}' already exists.")
    release_id = body.get("release_id", body.get("release"))
    if release_id is None:
        raise bad_request("release_id is required")
    release = world.releases.get(int_param(str(release_id), "release_id"))
    if release is None:
        raise bad_request(f"Release with id {release_id} was not found")
    if not release.is_deployable:
        raise bad_request(f"Release with id {release.id} ({release.version}) is not deployable: "
                          "a new environment needs a deployable release")
    mode = body.get("mode") or "ha_compact"
    if mode != "ha_compact":
        raise bad_request(f"mode {mode!r} is not supported by release {release.version}: use ha_compact")
    provider = body.get("net_provider") or "neutron"
    if provider not in NET_PROVIDERS:
        raise bad_request(f"net_provider {provider!r} is not supported: use neutron")
    segment = body.get("net_segment_type") or "vlan"
    if segment not in SEGMENT_TYPES:
        raise bad_request(f"net_segment_type must be one of {', '.join(SEGMENT_TYPES)}")
    cluster = scenarios.new_cluster(world, name, release)
    cluster.mode, cluster.net_provider, cluster.net_segment_type = mode, provider, segment
    cluster.network_config["networking_parameters"]["segmentation_type"] = segment
    world.changed()
    return ok(serializers.cluster(world, cluster), status=201)


async def get_cluster(request: web.Request) -> web.Response:
    return ok(serializers.cluster(lab_of(request).world, cluster_or_404(request)))


async def put_cluster(request: web.Request) -> web.Response:
    lab = lab_of(request)
    world = lab.world
    cluster = cluster_or_404(request)
    body = await read_json(request, (dict,))
    unknown = [k for k in body if k not in ("name", "id")]
    if unknown:
        raise bad_request(f"cannot update {', '.join(sorted(unknown))} of an environment; updatable: name")
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or not name.strip():
            raise bad_request("name must be a non-empty string")
        if name_taken(world, name, other_than=cluster.id):
            raise ApiError(409, f"Environment with this name '{name}' already exists.")
        cluster.name = name
    world.changed()
    return ok(serializers.cluster(world, cluster))


async def delete_cluster(request: web.Request) -> web.Response:
    lab = lab_of(request)
    cluster = cluster_or_404(request)
    conflict_if_busy(lab, cluster)
    nodes = [n.id for n in lab.world.cluster_nodes(cluster.id)]
    task = orchestrator.start(lab, cluster, "cluster_deletion", [Phase("cluster_deletion", nodes)])
    return ok(serializers.task(task), status=202)


# --------------------------------------------------------------------------- attributes


def merge_values(current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `given` into a copy of `current` (sections and settings may be added)."""
    out = copy.deepcopy(current)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


async def get_attributes(request: web.Request) -> web.Response:
    # `generated` (passwords, keys) is never served: Nailgun hands it to Astute only.
    return ok({"editable": cluster_or_404(request).attributes})


async def get_default_attributes(request: web.Request) -> web.Response:
    world = lab_of(request).world
    cluster = cluster_or_404(request)
    return ok({"editable": scenarios.env_attributes(world.cluster_release(cluster).version)})


async def put_attributes(request: web.Request) -> web.Response:
    lab = lab_of(request)
    cluster = cluster_or_404(request)
    body = await read_json(request, (dict,))
    editable = body.get("editable")
    if not isinstance(editable, dict):
        raise bad_request("expected {\"editable\": {...}}")
    if "generated" in body:
        raise bad_request("generated attributes cannot be changed through the API")
    for section, settings in editable.items():
        if not isinstance(settings, dict):
            raise bad_request(f"attribute section {section!r} must be an object")
    if serializers.is_locked(lab.world, cluster) and not flag(request, "force"):
        raise ApiError(403, "Environment attributes can't be changed after or during deployment "
                            "(use force to override)")
    cluster.attributes = merge_values(cluster.attributes, editable)
    lab.world.changed()
    return ok({"editable": cluster.attributes})


# --------------------------------------------------------------------------- network configuration


def network_document(cluster: Cluster) -> dict[str, Any]:
    doc = copy.deepcopy(cluster.network_config)
    doc["management_vip"] = cluster.vips.get("management")
    doc["public_vip"] = cluster.vips.get("public")
    return doc


async def get_network(request: web.Request) -> web.Response:
    return ok(network_document(cluster_or_404(request)))


def _in_cidr(address: Any, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(str(address)) in ipaddress.ip_network(cidr)
    except ValueError:
        return False


async def put_network(request: web.Request) -> web.Response:
    lab = lab_of(request)
    cluster = cluster_or_404(request)
    body = await read_json(request, (dict,))
    if serializers.is_locked(lab.world, cluster):
        raise ApiError(403, "Network configuration can't be changed after or during deployment.")
    by_id = {n["id"]: n for n in cluster.network_config.get("networks", [])}
    updated = copy.deepcopy(by_id)
    for net in body.get("networks", []):
        if not isinstance(net, dict) or net.get("id") not in by_id:
            raise bad_request(f"unknown network {net.get('id') if isinstance(net, dict) else net!r}")
        target = updated[net["id"]]
        if net.get("cidr", target["cidr"]) != target["cidr"]:
            raise bad_request(f"network {target['name']} is wired to the lab's {target['cidr']}; "
                              "its CIDR cannot change")
        for key in ("ip_ranges", "vlan_start", "gateway", "meta"):
            if key in net:
                target[key] = net[key]
        for first, last in target.get("ip_ranges") or []:
            if not (_in_cidr(first, target["cidr"]) and _in_cidr(last, target["cidr"])):
                raise bad_request(f"IP range {first}-{last} is outside {target['name']} {target['cidr']}")
    params = body.get("networking_parameters")
    if params is not None and not isinstance(params, dict):
        raise bad_request("networking_parameters must be an object")
    cluster.network_config["networks"] = [updated[i] for i in by_id]
    if params:
        cluster.network_config["networking_parameters"] = merge_values(
            cluster.network_config.get("networking_parameters", {}), params)
    lab.world.changed()
    return ok(network_document(cluster))


# --------------------------------------------------------------------------- membership


async def assignment(request: web.Request) -> web.Response:
    lab = lab_of(request)
    world = lab.world
    cluster = cluster_or_404(request)
    body = await read_json(request, (list,))
    planned = []
    for item in body:
        if not isinstance(item, dict) or "id" not in item:
            raise bad_request("each entry needs the node's id and roles")
        node = world.nodes.get(int_param(str(item["id"]), "id"))
        if node is None:
            raise ApiError(404, f"Node with id {item['id']} was not found")
        roles = membership.validate_roles(world, cluster, item.get("roles"))
        if node.cluster not in (None, cluster.id):
            raise bad_request(f"Node {node.id} is already assigned to environment {node.cluster}")
        if node.cluster is None and node.status != "discover":
            raise bad_request(f"Node {node.id} is {node.status}; only discovered nodes can be assigned")
        membership.ensure_idle(node)
        planned.append((node, roles))
    for node, roles in planned:
        membership.assign(world, cluster, node, roles)
    return ok([serializers.node(world, n) for n, _ in planned])


async def unassignment(request: web.Request) -> web.Response:
    lab = lab_of(request)
    world = lab.world
    cluster = cluster_or_404(request)
    body = await read_json(request, (list,))
    planned = []
    for item in body:
        if not isinstance(item, dict) or "id" not in item:
            raise bad_request("each entry needs the node's id")
        node = world.nodes.get(int_param(str(item["id"]), "id"))
        if node is None or node.cluster != cluster.id:
            raise bad_request(f"Node {item['id']} does not belong to environment {cluster.id}")
        membership.ensure_idle(node)
        planned.append(node)
    for node in planned:
        membership.unassign(world, cluster, node)
    return ok([serializers.node(world, n) for n in planned])


C = API + r"/clusters/{cluster_id:\d+}"
ROUTES = [
    ("GET", f"{API}/clusters", list_clusters),
    ("POST", f"{API}/clusters", create_cluster),
    ("GET", C, get_cluster),
    ("PUT", C, put_cluster),
    ("DELETE", C, delete_cluster),
    ("GET", f"{C}/attributes", get_attributes),
    ("PUT", f"{C}/attributes", put_attributes),
    ("GET", f"{C}/attributes/defaults", get_default_attributes),
    ("GET", f"{C}/network_configuration/neutron", get_network),
    ("PUT", f"{C}/network_configuration/neutron", put_network),
    ("POST", f"{C}/assignment", assignment),
    ("POST", f"{C}/unassignment", unassignment),
]
