"""Tasks, under both names fuelclient uses: `transactions/` (Task facade) and `tasks/`."""

from __future__ import annotations

from aiohttp import web

from fuellab.fuel import serializers
from fuellab.fuel.errors import ApiError, int_param
from fuellab.fuel.handlers.common import API, lab_of, ok, task_or_404


def _csv(request: web.Request, *names: str) -> list[str]:
    for name in names:
        value = request.query.get(name)
        if value:
            return [v.strip() for v in value.split(",") if v.strip()]
    return []


async def list_tasks(request: web.Request) -> web.Response:
    world = lab_of(request).world
    tasks = sorted(world.tasks.values(), key=lambda t: t.id)
    cluster = request.query.get("cluster_id")
    if cluster:
        cluster_id = int_param(cluster, "cluster_id")
        tasks = [t for t in tasks if t.cluster == cluster_id]
    statuses = _csv(request, "statuses", "status")
    if statuses:
        tasks = [t for t in tasks if t.status in statuses]
    names = _csv(request, "transaction_types", "name")
    if names:
        tasks = [t for t in tasks if t.name in names]
    return ok([serializers.task(t) for t in tasks])


async def get_task(request: web.Request) -> web.Response:
    return ok(serializers.task(task_or_404(request)))


async def delete_task(request: web.Request) -> web.Response:
    world = lab_of(request).world
    task = task_or_404(request)
    if task.status in ("pending", "running"):
        # Nailgun's force would drop the record while Astute kept working; the lab will not lie so.
        raise ApiError(400, f"Task {task.id} ({task.name}) is still running; wait until it ends, "
                            "then delete it")
    del world.tasks[task.id]
    world.changed()
    return web.Response(status=204)


ROUTES = [
    ("GET", f"{API}/transactions", list_tasks),
    ("GET", API + r"/transactions/{task_id:\d+}", get_task),
    ("DELETE", API + r"/transactions/{task_id:\d+}", delete_task),
    ("GET", f"{API}/tasks", list_tasks),
    ("GET", API + r"/tasks/{task_id:\d+}", get_task),
    ("DELETE", API + r"/tasks/{task_id:\d+}", delete_task),
]
