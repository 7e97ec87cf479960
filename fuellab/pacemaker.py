"""The pacemaker cluster of an env as its command-line tools see and change it.

State lives in `Cluster.pacemaker` (see fuellab.services for placement):

- `nodes`: configured hostnames; `resources`: each with `target_role` and an
  optional `location` (a `crm resource move` constraint);
- `standby`: hostnames put in standby; `properties`: cluster properties set
  with `crm configure property` (besides `maintenance-mode`, which is
  `maintenance` plus `frozen`, the placements kept running while pacemaker
  manages nothing);
- `restarts`: resource id -> lab time of its last `crm resource restart`
  (the HAProxy model reloads its configuration then);
- `epoch`, `changed_at`: bumped on every configuration change, as the CIB's epoch is.

A node sees the cluster only while it runs corosync and pacemaker; it sees the
members of its own partition (those it reaches on the management network) and
resources run only if that partition has quorum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fuellab import services
from fuellab.services import Placement
from fuellab.world import Cluster, Node, World

VERSION = "1.1.12"
BUILD = "1.1.12-561c4cf"
DEFAULT_PROPERTIES = {
    "dc-version": BUILD,
    "cluster-infrastructure": "corosync",
    "no-quorum-policy": "stop",
    "stonith-enabled": "false",
    "start-failure-is-fatal": "false",
    "symmetric-cluster": "false",
    "cluster-recheck-interval": "190s",
}


class PacemakerError(Exception):
    """An operation the cluster refuses; the message is what the tool prints."""


def cluster_of(world: World, node: Node) -> Cluster | None:
    """The pacemaker cluster whose configured nodes include this node (its own env's first)."""
    own = world.clusters.get(node.cluster) if node.cluster is not None else None
    if own is not None and node.hostname in services.configured_nodes(own):
        return own
    for cluster in services.pacemaker_clusters(world):
        if node.hostname in services.configured_nodes(cluster):
            return cluster
    return None


def connected(node: Node) -> bool:
    """The node's cluster stack runs: its tools can reach the CIB."""
    return node.online and all(job in node.jobs for job in services.CLUSTER_JOBS)


@dataclass
class View:
    """The cluster as one member sees it."""

    cluster: Cluster
    local: Node
    partition: list[Node]
    quorate: bool
    placements: list[Placement]
    configured: list[Node]

    @property
    def dc(self) -> Node:
        return self.partition[0]

    def online(self, node: Node) -> bool:
        return any(n.id == node.id for n in self.partition)

    def where(self, resource_id: str) -> list[tuple[Node, str]]:
        by_id = {n.id: n for n in self.configured}
        return [(by_id[p.node_id], p.role) for p in self.placements
                if p.resource == resource_id and p.node_id in by_id]

    def standby(self, node: Node) -> bool:
        return node.hostname in self.cluster.pacemaker.get("standby", [])


def view(world: World, node: Node) -> View:
    cluster = cluster_of(world, node)
    if cluster is None or not connected(node):
        raise PacemakerError("Transport endpoint is not connected")
    part = next((p for p in services.partitions(world, cluster) if any(n.id == node.id for n in p)), [node])
    quorate = services.has_quorum(cluster, part)
    maintenance = bool(cluster.pacemaker.get("maintenance"))
    shown = services.placements(world, cluster) if quorate or maintenance else []
    part_ids = {n.id for n in part}
    shown = [p for p in shown if p.node_id in part_ids]
    configured = [n for name in services.configured_nodes(cluster)
                  if (n := world.node_by_hostname(name)) is not None]
    configured.sort(key=lambda n: n.id)
    return View(cluster, node, part, quorate, shown, configured)


# --------------------------------------------------------------------------- resources


def find_resource(cluster: Cluster, name: str) -> dict[str, Any]:
    """A resource by its id or by the id of the primitive it wraps (p_haproxy, clone_p_haproxy)."""
    for res in services.resources(cluster):
        if name in (res["id"], res.get("primitive")):
            return res
    raise PacemakerError(f"resource {name} does not exist")


def _touch(world: World, cluster: Cluster) -> None:
    cluster.pacemaker["epoch"] = int(cluster.pacemaker.get("epoch", 100)) + 1
    cluster.pacemaker["changed_at"] = world.clock.now()
    world.changed()


def set_target_role(world: World, cluster: Cluster, name: str, role: str) -> dict[str, Any]:
    res = find_resource(cluster, name)
    res["target_role"] = role
    _touch(world, cluster)
    return res


def restart(world: World, cluster: Cluster, name: str) -> dict[str, Any]:
    """Stop then start: the processes start anew now (the HAProxy model reloads its config)."""
    res = find_resource(cluster, name)
    cluster.pacemaker.setdefault("restarts", {})[res["id"]] = world.clock.now()
    _touch(world, cluster)
    return res


def cleanup(world: World, cluster: Cluster, name: str) -> dict[str, Any]:
    res = find_resource(cluster, name)
    cluster.pacemaker.setdefault("cleanups", {})[res["id"]] = world.clock.now()
    _touch(world, cluster)
    return res


def move(world: World, v: View, name: str, target: str | None) -> tuple[dict[str, Any], str]:
    """Prefer `target` for a primitive; without one, move it off the node it runs on."""
    cluster = v.cluster
    res = find_resource(cluster, name)
    if res["kind"] != "primitive":
        raise PacemakerError(f"Resource '{res['id']}' not moved: active in "
                             f"{len(v.where(res['id']))} locations.")
    names = services.configured_nodes(cluster)
    if target is None:
        running = [n.hostname for n, _ in v.where(res["id"])]
        candidates = [n.hostname for n in v.partition if n.hostname not in running and not v.standby(n)]
        if not running:
            raise PacemakerError(f"Resource '{res['id']}' not moved: not-active and no preferred location specified.")
        if not candidates:
            raise PacemakerError(f"Resource '{res['id']}' not moved: no other node to run on.")
        target = candidates[0]
    elif target not in names:
        raise PacemakerError(f"Node '{target}' not found")
    res["location"] = target
    _touch(world, cluster)
    return res, target


def unmove(world: World, cluster: Cluster, name: str) -> dict[str, Any]:
    res = find_resource(cluster, name)
    res.pop("location", None)
    _touch(world, cluster)
    return res


# --------------------------------------------------------------------------- nodes and properties


def set_standby(world: World, cluster: Cluster, hostname: str, on: bool) -> None:
    if hostname not in services.configured_nodes(cluster):
        raise PacemakerError(f"node {hostname} not found")
    standby = cluster.pacemaker.setdefault("standby", [])
    if on and hostname not in standby:
        standby.append(hostname)
    if not on and hostname in standby:
        standby.remove(hostname)
    _touch(world, cluster)


def properties(cluster: Cluster) -> dict[str, str]:
    props = dict(DEFAULT_PROPERTIES)
    props.update(cluster.pacemaker.get("properties", {}))
    if cluster.pacemaker.get("maintenance"):
        props["maintenance-mode"] = "true"
    return props


def set_property(world: World, cluster: Cluster, name: str, value: str) -> None:
    if name == "maintenance-mode":
        on = value.lower() in ("true", "on", "yes", "y", "1")
        if on and not cluster.pacemaker.get("maintenance"):
            # Unmanaged resources keep running where they run now.
            cluster.pacemaker["frozen"] = [
                {"resource": p.resource, "node_id": p.node_id, "role": p.role}
                for p in services.placements(world, cluster)
            ]
        if not on:
            cluster.pacemaker.pop("frozen", None)
        cluster.pacemaker["maintenance"] = on
    else:
        cluster.pacemaker.setdefault("properties", {})[name] = value
    _touch(world, cluster)


def delete_property(world: World, cluster: Cluster, name: str) -> None:
    if name == "maintenance-mode":
        set_property(world, cluster, name, "false")
        return
    cluster.pacemaker.setdefault("properties", {}).pop(name, None)
    _touch(world, cluster)


# --------------------------------------------------------------------------- the cluster stack


def stop_stack(world: World, node: Node) -> None:
    """pacemaker and corosync leave the node: it drops out of the membership, and the resources it ran
    die with them (`stack_stopped`: hostname -> lab time, what non-persistent server state such as
    MySQL's read_only is measured against)."""
    node.jobs = [j for j in node.jobs if j not in services.CLUSTER_JOBS]
    cluster = cluster_of(world, node)
    if cluster is not None:
        cluster.pacemaker.setdefault("stack_stopped", {})[node.hostname] = world.clock.now()
    world.changed()


def start_stack(world: World, node: Node) -> None:
    for job in services.CLUSTER_JOBS:
        if job not in node.jobs:
            node.jobs.append(job)
    world.changed()
