"""What runs where: upstart jobs started on a node plus what pacemaker places there.

A node runs the jobs in `Node.jobs` (started at boot from `/etc/init/*.conf`
or by `start`/`service`) while it is online. Each deployed env's controllers
form a pacemaker cluster (`Cluster.pacemaker`): its members are the
controllers running both `corosync` and `pacemaker`; they see each other over
the management segment, and only a partition holding a majority of the
configured nodes runs resources (no-quorum-policy=stop). In that partition a
clone runs on every member, a master/slave set on every member (master on the
first), a primitive on the member named by its location constraint or else on
the first member by hostname. VIP primitives are where the env's VIPs live.
Members in standby keep their vote but run nothing; in maintenance mode the
placements stay as they were when it was set (fuellab.pacemaker).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from fuellab.world import Cluster, Node, World

CLUSTER_JOBS = ("corosync", "pacemaker")


@dataclass(frozen=True)
class Placement:
    resource: str
    node_id: int
    role: str = "Started"  # Started | Master | Slave


@dataclass(frozen=True)
class VipPlacement:
    name: str  # public | management
    network: str
    address: str
    node_id: int


def resources(cluster: Cluster) -> list[dict[str, Any]]:
    return cluster.pacemaker.get("resources", [])


def configured_nodes(cluster: Cluster) -> list[str]:
    return cluster.pacemaker.get("nodes", [])


def members(world: World, cluster: Cluster) -> list[Node]:
    """Controllers of the cluster running corosync and pacemaker, by hostname."""
    names = set(configured_nodes(cluster))
    # A controller moved to another env (upgrade assign) keeps its hostname but no longer
    # belongs to this cluster: its corosync talks to its new env's ring.
    found = [
        n
        for n in world.nodes.values()
        if n.hostname in names and n.cluster == cluster.id and n.online
        and all(j in n.jobs for j in CLUSTER_JOBS)
    ]
    return sorted(found, key=lambda n: n.hostname)


def partitions(world: World, cluster: Cluster) -> list[list[Node]]:
    """Members grouped by the management segment they see each other on, each by hostname."""
    from fuellab import network  # network imports this module

    live = members(world, cluster)
    if not live:
        return []
    uf = network.segments(world)
    mgmt = world.networks["management"].bridge
    groups: dict[Any, list[Node]] = defaultdict(list)
    for node in live:
        key = uf.find((node.id, mgmt)) if mgmt in node.ovs else ("alone", node.id)
        groups[key].append(node)
    return [sorted(part, key=lambda n: n.hostname) for part in groups.values()]


def has_quorum(cluster: Cluster, part: list[Node]) -> bool:
    return len(part) * 2 > len(configured_nodes(cluster))


def quorate_partition(world: World, cluster: Cluster) -> list[Node]:
    """Members that see each other on management and form a majority of the configured nodes."""
    if not configured_nodes(cluster):
        return []
    for part in partitions(world, cluster):
        if has_quorum(cluster, part):
            return part
    return []


def placements(world: World, cluster: Cluster) -> list[Placement]:
    if cluster.pacemaker.get("maintenance"):
        # maintenance-mode: pacemaker stops managing; what ran when it was set keeps
        # running (see fuellab.pacemaker.set_property) while its node is up.
        return [
            Placement(p["resource"], p["node_id"], p.get("role", "Started"))
            for p in cluster.pacemaker.get("frozen", [])
            if p["node_id"] in world.nodes and world.nodes[p["node_id"]].online
        ]
    part = quorate_partition(world, cluster)
    # Standby members keep their vote but run no resources.
    standby = set(cluster.pacemaker.get("standby", []))
    part = [n for n in part if n.hostname not in standby]
    if not part:
        return []
    by_name = {n.hostname: n for n in part}
    out: list[Placement] = []
    for res in resources(cluster):
        if res.get("target_role", "Started") != "Started":
            continue
        if res["kind"] == "clone":
            out += [Placement(res["id"], n.id) for n in part]
        elif res["kind"] == "master":
            out += [Placement(res["id"], n.id, "Master" if i == 0 else "Slave") for i, n in enumerate(part)]
        else:
            node = by_name.get(res.get("location", "")) or part[0]
            out.append(Placement(res["id"], node.id))
    return out


def pacemaker_clusters(world: World) -> list[Cluster]:
    return [c for c in world.clusters.values() if c.pacemaker.get("resources")]


def pacemaker_jobs(world: World, node: Node) -> list[str]:
    """Jobs pacemaker runs on `node` right now."""
    if node.cluster is None or node.cluster not in world.clusters:
        return []
    cluster = world.clusters[node.cluster]
    by_id = {r["id"]: r for r in resources(cluster)}
    return [
        by_id[p.resource]["job"]
        for p in placements(world, cluster)
        if p.node_id == node.id and by_id[p.resource].get("job")
    ]


def running_jobs(world: World, node: Node) -> list[str]:
    """Every job running on the node: started upstart jobs plus pacemaker's."""
    if not node.online:
        return []
    jobs = list(node.jobs)
    for job in pacemaker_jobs(world, node):
        if job not in jobs:
            jobs.append(job)
    return jobs


def is_running(world: World, node: Node, job: str) -> bool:
    return job in running_jobs(world, node)


def vip_placements(world: World) -> list[VipPlacement]:
    out: list[VipPlacement] = []
    for cluster in pacemaker_clusters(world):
        vip_res = {r["id"]: r["vip"] for r in resources(cluster) if r.get("vip")}
        for p in placements(world, cluster):
            net = vip_res.get(p.resource)
            if net and net in cluster.vips:
                out.append(VipPlacement(net, net, cluster.vips[net], p.node_id))
    return out
