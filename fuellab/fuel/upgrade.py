"""The cluster_upgrade extension of Nailgun: clone an env, move nodes to the seed, copy VIPs.

- `POST clusters/{id}/upgrade/clone {"name", "release_id"}` creates the Upgrade
  Seed env: the original's settings (editable values merged onto the new
  release's defaults, its release version updated), the same generated
  secrets (service passwords), the same network configuration, and the
  relation recorded on both envs (`Cluster.upgrade`). The seed's Ceph `fsid`
  is its own: the seed's monitors create their cluster when deployed, and
  adopting the original's is the job of upgrade-ceph.
- `POST clusters/{seed}/upgrade/assign {"nodes_ids", "reprovision", "roles"}`
  moves nodes of the original env to the seed keeping their addresses, with
  `roles` (or their current roles) pending, and re-installs them with the
  seed's release (a provisioning task: data volumes marked keep_data survive).
- `POST clusters/{seed}/upgrade/vips` gives the seed the original's VIPs.

Each call serves only an env that has the cluster_upgrade extension enabled
(the original for clone, the seed for assign and vips; the seed inherits the
original's extensions): enabling it is part of preparing the master, see
fuellab.fuel.handlers.extensions. Validation failures answer 400 with what is
wrong.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from fuellab import scenarios
from fuellab.fuel import membership, orchestrator, serializers
from fuellab.fuel.errors import bad_request, read_json
from fuellab.fuel.handlers.clusters import name_taken
from fuellab.fuel.handlers.common import API, cluster_or_404, conflict_if_busy, lab_of, ok
from fuellab.fuel.handlers.extensions import require_cluster_upgrade
from fuellab.fuel.orchestrator import Phase
from fuellab.world import Cluster, World

ASSIGNABLE = ("ready", "provisioned", "error")
VIP_NETWORKS = ("public", "management")


# --------------------------------------------------------------------------- clone


def merge_attributes(orig: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The new release's attributes carrying the original's values where both have a setting."""
    attrs = copy.deepcopy(defaults)
    for section, settings in attrs.items():
        if section not in orig or not isinstance(settings, dict):
            continue
        for key, setting in settings.items():
            source = orig[section].get(key)
            if key != "metadata" and isinstance(setting, dict) and isinstance(source, dict) \
                    and "value" in source:
                setting["value"] = copy.deepcopy(source["value"])
    return attrs


def merge_networks(orig: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The seed's networks with the original's addressing (ids and groups stay the seed's)."""
    out = copy.deepcopy(new)
    source = {n["name"]: n for n in orig.get("networks", [])}
    for net in out.get("networks", []):
        src = source.get(net["name"])
        if src is None:
            continue
        for key in net:
            if key not in ("id", "meta", "group_id", "cluster_id") and key in src:
                net[key] = copy.deepcopy(src[key])
    params = out.setdefault("networking_parameters", {})
    for key, value in orig.get("networking_parameters", {}).items():
        params[key] = copy.deepcopy(value)
    return out


def in_upgrade(cluster: Cluster) -> bool:
    return bool(cluster.upgrade.get("seed_cluster_id"))


def validate_clone(world: World, orig: Cluster, data: dict[str, Any]) -> tuple[str, Any]:
    name, release_id = data.get("name"), data.get("release_id")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("'name' is a required property: the name of the new environment")
    if not isinstance(release_id, int) or isinstance(release_id, bool):
        raise bad_request("'release_id' is a required property and must be a number")
    if in_upgrade(orig):
        raise bad_request(f"Upgrade is not possible because the original cluster ({orig.id}) is "
                          "already involved in the upgrade routine.")
    if orig.status != "operational":
        raise bad_request(f"Upgrade is not possible because the original cluster ({orig.id}) is "
                          f"{orig.status}; only an operational environment can be upgraded.")
    if name_taken(world, name):
        raise bad_request(f"Environment with this name '{name}' already exists.")
    release = world.releases.get(release_id)
    if release is None:
        raise bad_request(f"Release with id {release_id} was not found.")
    if not release.is_deployable:
        raise bad_request(f"Upgrade to the given release ({release.id}) is not possible because "
                          "this release is deprecated and cannot be installed.")
    current = world.cluster_release(orig)
    if serializers.release_version_key(release.version) <= serializers.release_version_key(current.version):
        raise bad_request(f"Upgrade to the given release ({release.id}) is not possible because "
                          "this release is equal or lower than the release of the original cluster.")
    if release.operating_system != current.operating_system:
        raise bad_request(f"Upgrade to the given release ({release.id}) is not possible because "
                          f"it runs {release.operating_system}, the original cluster runs "
                          f"{current.operating_system}.")
    return name, release


async def clone(request: web.Request) -> web.Response:
    lab = lab_of(request)
    world = lab.world
    orig = cluster_or_404(request)
    data = await read_json(request, (dict,))
    require_cluster_upgrade(orig, "original")
    name, release = validate_clone(world, orig, data)
    seed = scenarios.new_cluster(world, name, release)
    seed.mode, seed.net_provider, seed.net_segment_type = orig.mode, orig.net_provider, orig.net_segment_type
    seed.attributes = merge_attributes(orig.attributes, seed.attributes)
    seed.attributes.setdefault("release", {}).setdefault("version", {"type": "hidden"})["value"] = release.version
    generated = copy.deepcopy(orig.generated)
    generated["ceph"] = {**generated.get("ceph", {}), "fsid": seed.generated["ceph"]["fsid"]}
    seed.generated = generated
    seed.network_config = merge_networks(orig.network_config, seed.network_config)
    # The seed goes on with the upgrade (assign, vips): it needs cluster_upgrade as the original has it.
    seed.extensions = list(orig.extensions)
    relation = {"orig_cluster_id": orig.id, "seed_cluster_id": seed.id}
    orig.upgrade = dict(relation)
    seed.upgrade = dict(relation)
    world.changed()
    return ok(serializers.cluster(world, seed))


# --------------------------------------------------------------------------- assign


def _relation_of_seed(world: World, seed: Cluster) -> Cluster:
    if seed.upgrade.get("seed_cluster_id") != seed.id:
        raise bad_request(f"Environment {seed.id} is not the seed of an upgrade: clone the original "
                          "environment first (upgrade/clone) and use the new environment's id")
    orig = world.clusters.get(seed.upgrade.get("orig_cluster_id"))  # type: ignore[arg-type]
    if orig is None:
        raise bad_request(f"The original environment of seed {seed.id} does not exist any more")
    return orig


async def assign(request: web.Request) -> web.Response:
    lab = lab_of(request)
    world = lab.world
    seed = cluster_or_404(request)
    data = await read_json(request, (dict,))
    orig = _relation_of_seed(world, seed)
    require_cluster_upgrade(seed, "seed")
    conflict_if_busy(lab, seed)
    ids = data.get("nodes_ids", data.get("node_ids"))
    if (not isinstance(ids, list) or not ids
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)):
        raise bad_request("'nodes_ids' must be a non-empty list of node ids")
    if len(set(ids)) != len(ids):
        raise bad_request("'nodes_ids' lists a node twice")
    reprovision = data.get("reprovision", True)
    if not isinstance(reprovision, bool):
        raise bad_request("'reprovision' must be true or false")
    roles = data.get("roles")
    if roles is not None:
        roles = membership.validate_roles(world, seed, roles)
    nodes = []
    for node_id in ids:
        node = world.nodes.get(node_id)
        if node is None:
            raise bad_request(f"Node with id {node_id} was not found.")
        if node.cluster == seed.id:
            raise bad_request(f"Node {node.id} is already assigned to cluster {seed.id}")
        if node.cluster != orig.id:
            raise bad_request(f"Node {node.id} does not belong to the original environment {orig.id} "
                              f"of seed {seed.id} (it is in "
                              f"{'no environment' if node.cluster is None else f'environment {node.cluster}'})")
        if node.status not in ASSIGNABLE:
            raise bad_request(f"Node should be in one of statuses: {', '.join(ASSIGNABLE)}. "
                              f"Currently node {node.id} has {node.status} status.")
        if node.status == "error" and node.error_type != "deploy":
            raise bad_request(f"Node {node.id} should be in error state only with deploy error type. "
                              f"Currently error type of node is {node.error_type}")
        node_roles = roles or sorted(set(node.roles) | set(node.pending_roles))
        if roles is None:
            membership.validate_roles(world, seed, node_roles)
        nodes.append((node, node_roles))
    for node, node_roles in nodes:
        # The node keeps its addresses: the seed takes the original's place on the wire.
        node.cluster = seed.id
        node.group_id = seed.id
        node.pending_roles = node_roles
        node.roles = []
        node.pending_addition = True
        node.pending_deletion = False
        membership.set_default_interfaces(world, seed, node, node_roles)
    world.changed()
    if not reprovision:
        return ok([serializers.node(world, n) for n, _ in nodes])
    version = world.cluster_release(seed).version
    task = orchestrator.start(lab, seed, "provision", [Phase("provision", [n.id for n, _ in nodes], version)])
    return ok(serializers.task(task), status=202)


# --------------------------------------------------------------------------- vips


async def copy_vips(request: web.Request) -> web.Response:
    lab = lab_of(request)
    world = lab.world
    seed = cluster_or_404(request)
    await read_json(request, (dict, list), default={})
    orig = _relation_of_seed(world, seed)
    require_cluster_upgrade(seed, "seed")
    vips = {k: v for k, v in orig.vips.items() if k in VIP_NETWORKS}
    if not vips:
        raise bad_request(f"The original environment {orig.id} has no VIPs: it was never deployed")
    seed.vips.update(vips)
    world.changed()
    ids = serializers.network_ids(seed)
    return ok([
        {"ip_addr": address, "network": ids.get(name), "network_name": name, "vip_name": name,
         "vip_namespace": "haproxy", "is_user_defined": False, "cluster": seed.id}
        for name, address in sorted(seed.vips.items())
    ])


C = API + r"/clusters/{cluster_id:\d+}/upgrade"
ROUTES = [
    ("POST", f"{C}/clone", clone),
    ("POST", f"{C}/assign", assign),
    ("POST", f"{C}/vips", copy_vips),
]
