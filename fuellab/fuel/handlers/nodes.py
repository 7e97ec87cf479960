"""Nodes: listing, updates, disks (volumes with keep_data) and NIC assignment."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fuellab.fuel import membership, serializers
from fuellab.fuel.errors import ApiError, bad_request, int_param, read_json
from fuellab.fuel.handlers.common import API, lab_of, node_or_404, ok
from fuellab.fuel.serializers import ADMIN_NETWORK
from fuellab.lab import Lab
from fuellab.world import Node

UPDATABLE = ("labels", "pending_roles", "pending_addition", "pending_deletion", "cluster", "cluster_id")
FIXED = ("id", "hostname", "name", "fqdn", "mac", "ip")  # accepted only unchanged


async def list_nodes(request: web.Request) -> web.Response:
    world = lab_of(request).world
    nodes = sorted(world.nodes.values(), key=lambda n: n.id)
    if "cluster_id" in request.query:
        raw = request.query["cluster_id"]
        if raw in ("", "None", "null"):
            nodes = [n for n in nodes if n.cluster is None]
        else:
            cluster_id = int_param(raw, "cluster_id")
            nodes = [n for n in nodes if n.cluster == cluster_id]
    return ok([serializers.node(world, n) for n in nodes])


def _fixed_unchanged(node: Node, key: str, value: Any) -> None:
    current = {"id": node.id, "hostname": node.hostname, "name": node.hostname,
               "fqdn": serializers.fqdn(node), "mac": node.mac, "ip": node.admin_ip}[key]
    if value != current:
        raise bad_request(f"{key} of node {node.id} cannot be changed in the lab (it is {current!r})")


def update_node(lab: Lab, node: Node, data: dict[str, Any]) -> None:
    """Apply one node's update from PUT nodes/ or nodes/{id}/."""
    world = lab.world
    unknown = [k for k in data if k not in UPDATABLE + FIXED]
    if unknown:
        raise bad_request(f"cannot update {', '.join(sorted(unknown))} of a node; "
                          f"updatable: {', '.join(UPDATABLE)}")
    for key in FIXED:
        if key in data:
            _fixed_unchanged(node, key, data[key])
    if "labels" in data:
        labels = data["labels"]
        if not isinstance(labels, dict):
            raise bad_request("labels must be an object")
        node.labels = {str(k): (None if v is None else str(v)) for k, v in labels.items()}
    target = data.get("cluster_id", data.get("cluster", node.cluster))
    if target != node.cluster:
        if target is None:
            membership.unassign(world, world.clusters[node.cluster], node)  # type: ignore[index]
        else:
            cluster = world.clusters.get(int_param(str(target), "cluster"))
            if cluster is None:
                raise bad_request(f"Cluster with id {target} was not found")
            roles = data.get("pending_roles") or []
            membership.assign(world, cluster, node, membership.validate_roles(world, cluster, roles)
                              if roles else [])
    if "pending_roles" in data:
        if node.cluster is None:
            raise bad_request(f"Node {node.id} is not in an environment; assign it first")
        membership.ensure_idle(node)
        roles = data["pending_roles"]
        node.pending_roles = (membership.validate_roles(world, world.clusters[node.cluster], roles)
                              if roles else [])
    for key in ("pending_addition", "pending_deletion"):
        if key in data:
            if not isinstance(data[key], bool):
                raise bad_request(f"{key} must be true or false")
            if data[key] and node.cluster is None:
                raise bad_request(f"Node {node.id} is not in an environment")
            membership.ensure_idle(node)
            setattr(node, key, data[key])
    world.changed()


async def put_nodes(request: web.Request) -> web.Response:
    lab = lab_of(request)
    body = await read_json(request, (list,))
    nodes = []
    for item in body:
        if not isinstance(item, dict) or "id" not in item:
            raise bad_request("each entry needs the node's id")
        node = lab.world.nodes.get(int_param(str(item["id"]), "id"))
        if node is None:
            raise ApiError(404, f"Node with id {item['id']} was not found")
        nodes.append((node, item))
    for node, item in nodes:
        update_node(lab, node, item)
    return ok([serializers.node(lab.world, n) for n, _ in nodes])


async def get_node(request: web.Request) -> web.Response:
    return ok(serializers.node(lab_of(request).world, node_or_404(request)))


async def put_node(request: web.Request) -> web.Response:
    lab = lab_of(request)
    node = node_or_404(request)
    update_node(lab, node, await read_json(request, (dict,)))
    return ok(serializers.node(lab.world, node))


async def delete_node(request: web.Request) -> web.Response:
    lab = lab_of(request)
    node = node_or_404(request)
    membership.ensure_idle(node)
    if node.cluster is not None:
        raise bad_request(f"Node {node.id} belongs to environment {node.cluster}: unassign it and "
                          "deploy the changes first")
    if node.online:
        raise bad_request(f"Node {node.id} is online: its agent would discover it again at once; "
                          "power it off first")
    ssh = getattr(lab, "ssh", None)
    acceptor = ssh.acceptors.pop(node.id, None) if ssh is not None else None
    if acceptor is not None:
        acceptor.close()
    del lab.world.nodes[node.id]
    lab.world.changed()
    return web.Response(status=204)


# --------------------------------------------------------------------------- disks


async def get_disks(request: web.Request) -> web.Response:
    return ok(serializers.disks(node_or_404(request)))


async def get_default_disks(request: web.Request) -> web.Response:
    disks = serializers.disks(node_or_404(request))
    for disk in disks:
        for volume in disk["volumes"]:
            volume["keep_data"] = False
    return ok(disks)


async def put_disks(request: web.Request) -> web.Response:
    lab = lab_of(request)
    node = node_or_404(request)
    membership.ensure_idle(node)
    body = await read_json(request, (list,))
    shown = {d["id"]: d["name"] for d in serializers.disks(node)}
    planned: list[tuple[Any, dict[str, Any]]] = []
    for item in body:
        if not isinstance(item, dict):
            raise bad_request("each disk must be an object")
        name = item.get("name") or shown.get(item.get("id"))
        disk = next((d for d in node.disks if d.name == name), None)
        if disk is None:
            raise bad_request(f"Node {node.id} has no disk {item.get('name') or item.get('id')!r}")
        volumes = item.get("volumes", [])
        if not isinstance(volumes, list):
            raise bad_request(f"volumes of disk {disk.name} must be a list")
        planned.append((disk, {}))
        sizes = {v.name: v.size for v in disk.volumes}
        for vol in volumes:
            if not isinstance(vol, dict) or vol.get("name") not in sizes:
                raise bad_request(f"disk {disk.name} of node {node.id} has no volume "
                                  f"{vol.get('name') if isinstance(vol, dict) else vol!r}; "
                                  f"it has {', '.join(sizes)}")
            size = vol.get("size", sizes[vol["name"]])
            if not isinstance(size, int) or size < 0:
                raise bad_request(f"size of volume {vol['name']} must be a non-negative integer (MiB)")
            keep = vol.get("keep_data", False)
            if not isinstance(keep, bool):
                raise bad_request("keep_data must be true or false")
            if vol["name"] == "os" and keep:
                raise bad_request(f"the OS volume of node {node.id} is always re-written on "
                                  "provisioning: keep_data cannot be set on it")
            sizes[vol["name"]] = size
            planned[-1][1][vol["name"]] = (size, keep)
        if sum(sizes.values()) > disk.size:
            raise bad_request(f"volumes of disk {disk.name} need {sum(sizes.values())} MiB, "
                              f"the disk has {disk.size} MiB")
    for disk, changes in planned:
        for volume in disk.volumes:
            if volume.name in changes:
                volume.size, volume.keep_data = changes[volume.name]
    lab.world.changed()
    return ok(serializers.disks(node))


# --------------------------------------------------------------------------- interfaces


async def get_interfaces(request: web.Request) -> web.Response:
    world = lab_of(request).world
    node = node_or_404(request)
    cluster = world.clusters.get(node.cluster) if node.cluster is not None else None
    return ok(serializers.interfaces(node, cluster))


async def get_default_interfaces(request: web.Request) -> web.Response:
    world = lab_of(request).world
    node = node_or_404(request)
    cluster = world.clusters.get(node.cluster) if node.cluster is not None else None
    data = serializers.interfaces(node, cluster)
    if cluster is not None:
        ids = serializers.network_ids(cluster)
        roles = sorted(set(node.roles) | set(node.pending_roles))
        for item in data:
            names = membership.default_networks(world, cluster, node, item["name"], roles)
            item["assigned_networks"] = [{"id": ids.get(n), "name": n} for n in names]
    return ok(data)


async def put_interfaces(request: web.Request) -> web.Response:
    world = lab_of(request).world
    node = node_or_404(request)
    membership.ensure_idle(node)
    cluster = world.clusters.get(node.cluster) if node.cluster is not None else None
    known = set(serializers.network_ids(cluster)) | {ADMIN_NETWORK}
    by_id = {i + 1: iface for i, iface in enumerate(node.interfaces)}
    body = await read_json(request, (list,))
    planned = []
    for item in body:
        if not isinstance(item, dict):
            raise bad_request("each interface must be an object")
        iface = node.interface(item.get("name", "")) or by_id.get(item.get("id"))  # type: ignore[arg-type]
        if iface is None:
            raise bad_request(f"Node {node.id} has no interface {item.get('name') or item.get('id')!r}")
        nets = item.get("assigned_networks", [])
        if not isinstance(nets, list):
            raise bad_request("assigned_networks must be a list")
        names = [n.get("name") if isinstance(n, dict) else n for n in nets]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise bad_request(f"unknown networks {unknown} for node {node.id}; known: {sorted(known)}")
        if ADMIN_NETWORK in names and iface.name != world.networks["admin"].nic:
            raise bad_request(f"{ADMIN_NETWORK} must stay on the PXE interface "
                              f"{world.networks['admin'].nic}")
        planned.append((iface, names))
    for iface, names in planned:
        iface.assigned_networks = names
    world.changed()
    return ok(serializers.interfaces(node, cluster))


N = API + r"/nodes/{node_id:\d+}"
ROUTES = [
    ("GET", f"{API}/nodes", list_nodes),
    ("PUT", f"{API}/nodes", put_nodes),
    ("GET", N, get_node),
    ("PUT", N, put_node),
    ("DELETE", N, delete_node),
    ("GET", f"{N}/disks", get_disks),
    ("PUT", f"{N}/disks", put_disks),
    ("GET", f"{N}/disks/defaults", get_default_disks),
    ("GET", f"{N}/interfaces", get_interfaces),
    ("PUT", f"{N}/interfaces", put_interfaces),
    ("GET", f"{N}/interfaces/default_assignment", get_default_interfaces),
]
