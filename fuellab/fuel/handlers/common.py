"""What every handler needs: the lab, objects by id or 404, JSON answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from fuellab.fuel.errors import ApiError, int_param, not_found
from fuellab.world import Cluster, Node, Release, Task, World

if TYPE_CHECKING:
    from fuellab.lab import Lab

API = "/api/v1"
T = TypeVar("T")


def lab_of(request: web.Request) -> Lab:
    return request.app["lab"]


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def _one_or_404(request: web.Request, key: str, kind: str, store: Callable[[World], dict[int, T]]) -> T:
    """The object named by a path parameter, or Nailgun's 404 for that kind."""
    object_id = int_param(request.match_info[key], f"{kind.lower()} id")
    found = store(lab_of(request).world).get(object_id)
    if found is None:
        raise not_found(kind, object_id)
    return found


def cluster_or_404(request: web.Request, key: str = "cluster_id") -> Cluster:
    return _one_or_404(request, key, "Cluster", lambda w: w.clusters)


def node_or_404(request: web.Request, key: str = "node_id") -> Node:
    return _one_or_404(request, key, "Node", lambda w: w.nodes)


def release_or_404(request: web.Request, key: str = "release_id") -> Release:
    return _one_or_404(request, key, "Release", lambda w: w.releases)


def task_or_404(request: web.Request, key: str = "task_id") -> Task:
    return _one_or_404(request, key, "Task", lambda w: w.tasks)


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "0").lower() in ("1", "true", "yes")


def conflict_if_busy(lab: Lab, cluster: Cluster) -> None:
    from fuellab.fuel import orchestrator

    task = orchestrator.running_task(lab.world, cluster.id)
    if task is not None:
        raise ApiError(409, f"Cannot perform the action: task {task.id} ({task.name}) is running "
                            f"for environment {cluster.id}; wait for it to finish")
