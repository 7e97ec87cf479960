"""What every handler needs: the lab, objects by id or 404, JSON answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from fuellab.fuel.errors import ApiError, int_param, not_found
from fuellab.world import Cluster, Node, Release, Task

if TYPE_CHECKING:
    from fuellab.lab import Lab

API = "/api/v1"


def lab_of(request: web.Request) -> Lab:
    return request.app["lab"]


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def cluster_or_404(request: web.Request, key: str = "cluster_id") -> Cluster:
    cluster_id = int_param(request.match_info[key], "cluster id")
    cluster = lab_of(request).world.clusters.get(cluster_id)
    if cluster is None:
        raise not_found("Cluster", cluster_id)
    return cluster


def node_or_404(request: web.Request, key: str = "node_id") -> Node:
    node_id = int_param(request.match_info[key], "node id")
    node = lab_of(request).world.nodes.get(node_id)
    if node is None:
        raise not_found("Node", node_id)
    return node


def release_or_404(request: web.Request, key: str = "release_id") -> Release:
    release_id = int_param(request.match_info[key], "release id")
    release = lab_of(request).world.releases.get(release_id)
    if release is None:
        raise not_found("Release", release_id)
    return release


def task_or_404(request: web.Request, key: str = "task_id") -> Task:
    task_id = int_param(request.match_info[key], "task id")
    task = lab_of(request).world.tasks.get(task_id)
    if task is None:
        raise not_found("Task", task_id)
    return task


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "0").lower() in ("1", "true", "yes")


def conflict_if_busy(lab: Lab, cluster: Cluster) -> None:
    from fuellab.fuel import orchestrator

    task = orchestrator.running_task(lab.world, cluster.id)
    if task is not None:
        raise ApiError(409, f"Cannot perform the action: task {task.id} ({task.name}) is running "
                            f"for environment {cluster.id}; wait for it to finish")
