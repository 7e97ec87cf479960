"""Tasks of the Fuel master: provisioning, deployment and deletion advancing in lab time.

A task is a list of phases run one after the other as a background coroutine
(`lab.spawn`). During a phase its nodes show `provisioning` / `deploying` /
`removing` with progress; the task's progress moves every `task_tick` lab
seconds; the phase lasts `provision` / `deploy` / `reboot` lab seconds (nodes
of one phase work in parallel, as Astute ran them). The effects are applied
when the phase ends, through `fuellab.install`: a failed or interrupted phase
leaves the nodes' disks as they were.

- provision: the node reboots (offline, SSH refused and open sessions cut),
  then `install.provision` writes a fresh OS of the env's release and wipes
  data volumes not marked keep_data.
- deployment: addresses of every node of the phase are assigned first (so
  configs list all controllers), then `install.deploy` with the network scheme
  the operator uploaded for the node (orchestrator/deployment) if any.
- node_deletion / cluster_deletion: the node is erased and boots the
  bootstrap image again (`scenarios.bootstrap`), unallocated.

Faults (fuellab.faults): `task-error` on `master` with op = the phase name
(`provision`, `deployment`, `node_deletion`, `cluster_deletion`) fails that
phase at its end; with op = the task name (`deploy` for PUT changes) it fails
the task's last phase. `provision-fail` on a hostname with op `provision`
fails that node's provisioning (node `error`, error_type `provision`); the
other nodes of the phase still complete.

On lab start and after a snapshot restore, `resume` ends every task left
`running` as `error` "interrupted by lab restart", its busy nodes `error`: a
provisioning cut in the middle is not silently redone, as on a master whose
Astute died.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fuellab import configs, install, scenarios
from fuellab.fuel.serializers import ADMIN_NETWORK
from fuellab.world import Cluster, Node, Task, World

if TYPE_CHECKING:
    from fuellab.lab import Lab

log = logging.getLogger("fuellab.fuel")

DURATION = {"provision": "provision", "deployment": "deploy", "node_deletion": "reboot",
            "cluster_deletion": "reboot"}
NODE_STATUS = {"provision": "provisioning", "deployment": "deploying", "node_deletion": "removing",
               "cluster_deletion": "removing"}
ERROR_TYPE = {"provision": "provision", "deployment": "deploy", "node_deletion": "deletion",
              "cluster_deletion": "deletion"}
REBOOTS = ("provision", "node_deletion", "cluster_deletion")
BUSY_ERROR = {"provisioning": "provision", "deploying": "deploy", "removing": "deletion"}


@dataclass
class Phase:
    name: str  # provision | deployment | node_deletion | cluster_deletion
    nodes: list[int] = field(default_factory=list)
    version: str | None = None  # release provisioned (provision phases)


class _Gone(Exception):
    """The task was deleted (or its world replaced) while it ran."""


# --------------------------------------------------------------------------- queries


def running_task(world: World, cluster_id: int) -> Task | None:
    return next((t for t in world.tasks.values()
                 if t.cluster == cluster_id and t.status in ("pending", "running")), None)


def uploaded_scheme(cluster: Cluster, node: Node) -> dict | None:
    """The network scheme of the node's uploaded deployment info, if the operator sent one."""
    entries = (cluster.deployment_info or {}).get(str(node.id)) or []
    for entry in entries:
        scheme = entry.get("network_scheme")
        if isinstance(scheme, dict):
            return scheme
    return None


# --------------------------------------------------------------------------- start


def start(lab: Lab, cluster: Cluster, name: str, phases: list[Phase]) -> Task:
    """Create the task and run it in the background; returns at once (HTTP 202)."""
    world = lab.world
    nodes: list[int] = []
    for phase in phases:
        nodes += [i for i in phase.nodes if i not in nodes]
    task = Task(id=world.next_id("task"), uuid=str(uuid.uuid4()), name=name, cluster=cluster.id,
                status="running", progress=0, time_start=lab.clock.now(), nodes=nodes)
    world.tasks[task.id] = task
    if name in ("deploy", "deployment"):
        cluster.status = "deployment"
    elif name == "cluster_deletion":
        cluster.status = "remove"
    world.changed()
    lab.spawn(_run(lab, task.id, cluster.id, phases), name=f"fuel-task-{task.id}")
    return task


async def _run(lab: Lab, task_id: int, cluster_id: int, phases: list[Phase]) -> None:
    world = lab.world
    total = sum(lab.clock.duration(DURATION[p.name]) for p in phases) or 1.0
    done = 0.0
    try:
        for index, phase in enumerate(phases):
            _begin(lab, cluster_id, phase)
            duration = lab.clock.duration(DURATION[phase.name])
            await _advance(lab, task_id, phase, duration, done, total)
            # A fault on the whole task (`deploy`) strikes its last phase.
            task_name = _task(world, task_id).name
            ops = [phase.name] + ([task_name] if index == len(phases) - 1 and task_name != phase.name else [])
            failure = _finish(lab, task_id, cluster_id, phase, ops)
            if failure:
                _fail(lab, task_id, cluster_id, failure)
                return
            done += duration
        _succeed(lab, task_id, cluster_id)
    except _Gone:
        return
    except Exception as exc:  # a lab bug must show as a failed task, not vanish
        log.exception("task %s failed inside the lab", task_id)
        _fail(lab, task_id, cluster_id, f"internal error of the lab: {exc}")


def _task(world: World, task_id: int) -> Task:
    task = world.tasks.get(task_id)
    if task is None:
        raise _Gone()
    return task


def _nodes(world: World, ids: list[int]) -> list[Node]:
    return [world.nodes[i] for i in ids if i in world.nodes]


def _begin(lab: Lab, cluster_id: int, phase: Phase) -> None:
    world = lab.world
    cluster = world.clusters.get(cluster_id)
    nodes = _nodes(world, phase.nodes)
    for node in nodes:
        node.status = NODE_STATUS[phase.name]
        node.progress = 0
        node.error_type = None
        if phase.name in REBOOTS:
            # The node reboots into PXE/bootstrap: SSH answers no more until it is back.
            node.online = False
            ssh = getattr(lab, "ssh", None)
            if ssh is not None:
                ssh.drop(node)
    if phase.name == "deployment" and cluster is not None:
        for node in nodes:
            install.assign_addresses(world, cluster, node, _roles(node))
    world.changed()


def _roles(node: Node) -> list[str]:
    return sorted(set(node.roles) | set(node.pending_roles))


async def _advance(lab: Lab, task_id: int, phase: Phase, duration: float, done: float,
                   total: float) -> None:
    world = lab.world
    tick = max(lab.clock.duration("task_tick"), 1e-6)
    elapsed = 0.0
    while elapsed < duration:
        step = min(tick, duration - elapsed)
        await lab.clock.sleep(step)
        elapsed += step
        task = _task(world, task_id)
        task.progress = min(99, int(100 * (done + elapsed) / total))
        for node in _nodes(world, phase.nodes):
            node.progress = min(99, int(100 * elapsed / duration))
        world.changed()


def _node_failed(node: Node, phase: Phase) -> None:
    node.status = "error"
    node.error_type = ERROR_TYPE[phase.name]
    node.progress = 0
    node.online = True  # it boots back on what its disks hold


def _finish(lab: Lab, task_id: int, cluster_id: int, phase: Phase, ops: list[str]) -> str | None:
    """Apply the phase's effects; the failure message when it failed."""
    world = lab.world
    _task(world, task_id)
    cluster = world.clusters.get(cluster_id)
    nodes = _nodes(world, phase.nodes)
    fault = next((f for op in ops if (f := lab.faults.take("master", op, "task-error"))), None)
    if fault is not None:
        for node in nodes:
            _node_failed(node, phase)
        world.changed()
        return fault.message
    failed: list[str] = []
    if phase.name == "provision":
        for node in nodes:
            if lab.faults.take(node.hostname, "provision", "provision-fail") is not None:
                _node_failed(node, phase)
                failed.append(node.hostname)
                continue
            if node.roles:
                # A re-installed node loses its deployed roles: they are pending again.
                node.pending_roles = sorted(set(node.pending_roles) | set(node.roles))
            install.provision(world, node, phase.version or install_version(world, cluster))
        if failed:
            world.changed()
            return f"Provision has failed. Failed to provision nodes: {', '.join(failed)}"
    elif phase.name == "deployment":
        if cluster is None:
            return "the environment was deleted during deployment"
        # Controllers first: they form the pacemaker cluster the others' configs name.
        ordered = sorted(nodes, key=lambda n: ("controller" not in _roles(n), n.id))
        deployed = []
        for node in ordered:
            try:
                install.deploy(world, cluster, node, uploaded_scheme(cluster, node))
                deployed.append(node)
            except RuntimeError as exc:
                log.warning("deployment of %s failed: %s", node.hostname, exc)
                _node_failed(node, phase)
                failed.append(f"{node.hostname} ({exc})")
        for node in deployed:
            configs.write_all(world, cluster, node)
        world.changed()
        if failed:
            return f"Deployment has failed. Failed nodes: {', '.join(failed)}"
    else:
        for node in nodes:
            if cluster is not None and node.hostname in cluster.pacemaker.get("nodes", []):
                cluster.pacemaker["nodes"].remove(node.hostname)
            return_to_bootstrap(world, node)
        if phase.name == "cluster_deletion":
            delete_cluster(world, cluster_id, keep_task=task_id)
    world.changed()
    return None


def install_version(world: World, cluster: Cluster | None) -> str:
    if cluster is None:
        raise RuntimeError("the environment was deleted during provisioning")
    return world.cluster_release(cluster).version


def _fail(lab: Lab, task_id: int, cluster_id: int, message: str) -> None:
    world = lab.world
    task = world.tasks.get(task_id)
    if task is None:
        return
    task.status = "error"
    task.message = message
    task.time_end = lab.clock.now()
    for node in _nodes(world, task.nodes):
        if node.status in BUSY_ERROR:
            node.error_type = BUSY_ERROR[node.status]
            node.status = "error"
            node.online = True
    cluster = world.clusters.get(cluster_id)
    if cluster is not None:
        cluster.status = "error"
    world.changed()


def _succeed(lab: Lab, task_id: int, cluster_id: int) -> None:
    world = lab.world
    task = _task(world, task_id)
    task.status = "ready"
    task.progress = 100
    task.time_end = lab.clock.now()
    cluster = world.clusters.get(cluster_id)
    if cluster is not None:
        task.message = f"{_done_text(task.name)} of environment '{cluster.name}' is done."
        if task.name in ("deploy", "deployment"):
            nodes = world.cluster_nodes(cluster.id)
            cluster.status = ("operational" if nodes and all(n.status == "ready" for n in nodes)
                              else "partially_deployed")
    else:
        task.message = f"{_done_text(task.name)} is done."
    world.changed()


def _done_text(name: str) -> str:
    return {"provision": "Provision", "deploy": "Deployment", "deployment": "Deployment",
            "cluster_deletion": "Deletion"}.get(name, name.capitalize())


# --------------------------------------------------------------------------- node and env removal


def return_to_bootstrap(world: World, node: Node) -> None:
    """What Nailgun does to a removed node: erase it, reboot it into bootstrap, unallocated."""
    node.cluster = None
    node.roles = []
    node.pending_roles = []
    node.pending_addition = False
    node.pending_deletion = False
    node.group_id = None
    node.error_type = None
    node.ips = {"admin": node.admin_ip}
    for iface in node.interfaces:
        iface.assigned_networks = [ADMIN_NETWORK] if iface.name == "eth0" else []
    for disk in node.disks:
        for volume in disk.volumes:
            volume.keep_data = False  # erase_node wipes every partition
    scenarios.bootstrap(world, node)
    world.changed()


def delete_cluster(world: World, cluster_id: int, keep_task: int | None = None) -> None:
    """Remove the env, its tasks and its side of any upgrade relation."""
    cluster = world.clusters.pop(cluster_id, None)
    if cluster is None:
        return
    for other in world.clusters.values():
        if cluster_id in (other.upgrade.get("orig_cluster_id"), other.upgrade.get("seed_cluster_id")):
            other.upgrade = {}
    for task_id in [t.id for t in world.tasks.values() if t.cluster == cluster_id]:
        if task_id != keep_task:
            del world.tasks[task_id]
    world.changed()


# --------------------------------------------------------------------------- restart


def resume(lab: Lab) -> None:
    """End what a stopped lab left running: tasks `error`, their busy nodes `error`."""
    world = lab.world
    now = lab.clock.now()
    touched = False
    for task in world.tasks.values():
        if task.status not in ("pending", "running"):
            continue
        task.status = "error"
        task.message = "interrupted by lab restart"
        task.time_end = now
        for node in _nodes(world, task.nodes):
            if node.status in BUSY_ERROR:
                node.error_type = BUSY_ERROR[node.status]
                node.status = "error"
                node.progress = 0
                node.online = True  # it boots on whatever its disks hold: effects were not applied
        cluster = world.clusters.get(task.cluster) if task.cluster is not None else None
        if cluster is not None:
            cluster.status = "error"
        touched = True
    if touched:
        world.changed()
