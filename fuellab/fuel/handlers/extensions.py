"""Nailgun's extensions: those installed on the master, and those enabled for each environment.

- `GET extensions/`: the installed ones, `{"name", "version", "description", "provides"}`.
- `GET clusters/{id}/extensions/`: the names enabled for the env (a list of strings).
- `PUT clusters/{id}/extensions/ ["a", ...]`: enables them (added to those enabled);
  answers the new list (fuelclient decodes every answer but a 204).
- `DELETE clusters/{id}/extensions/?extension_names=a,b`: disables them; 204.

Names not installed are refused with Nailgun's "No such extensions: ..."; a
DELETE of a name the env does not have enabled with "No such extensions to
disable: ..." (Nailgun's own validation: disabling is not idempotent there,
so the lab does not make it so).

A new env has `DEFAULT_EXTENSIONS` (volume_manager) enabled, not
cluster_upgrade: the lab's cluster_upgrade handlers (fuellab.fuel.upgrade)
serve only envs that have it, so an upgrade that skips preparing the master
(octane's prepare enables it on the original, and the seed inherits it) is
refused by the master instead of passing unnoticed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fuellab.fuel.errors import bad_request, read_json
from fuellab.fuel.handlers.common import API, cluster_or_404, lab_of, ok
from fuellab.world import Cluster

CLUSTER_UPGRADE = "cluster_upgrade"

# What the 7.0 master of the lab has installed (`fuel2 extension list`), as Nailgun describes them.
INSTALLED: dict[str, dict[str, Any]] = {
    "cluster_upgrade": {
        "name": "cluster_upgrade", "version": "0.0.1", "description": "Cluster Upgrade Extension",
        "provides": [],
    },
    "volume_manager": {
        "name": "volume_manager", "version": "1.0.0", "description": "Volume Manager Extension",
        "provides": ["get_node_volumes", "set_node_volumes", "set_default_node_volumes"],
    },
}


def enabled(cluster: Cluster, name: str) -> bool:
    return name in cluster.extensions


def require_cluster_upgrade(cluster: Cluster, role: str) -> None:
    """400 unless `cluster` (the upgrade's `role`: original or seed) has cluster_upgrade enabled."""
    if not enabled(cluster, CLUSTER_UPGRADE):
        have = ", ".join(cluster.extensions) or "none"
        raise bad_request(
            f"The cluster_upgrade extension is not enabled for the {role} cluster ({cluster.id}); "
            f"it has {have}. Enable it with `fuel2 env extension enable {cluster.id} "
            f"-E {CLUSTER_UPGRADE}` (or run `octane prepare`, which does) and retry.")


def _unknown(names: list[str]) -> list[str]:
    return sorted({n for n in names if n not in INSTALLED})


def _names(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
        raise bad_request(f"{what} must be a list of extension names, e.g. [\"{CLUSTER_UPGRADE}\"]")
    unknown = _unknown(value)
    if unknown:
        raise bad_request(f"No such extensions: {', '.join(unknown)} "
                          f"(installed: {', '.join(sorted(INSTALLED))})")
    return value


async def list_installed(request: web.Request) -> web.Response:
    return ok([INSTALLED[name] for name in sorted(INSTALLED)])


async def get_enabled(request: web.Request) -> web.Response:
    return ok(cluster_or_404(request).extensions)


async def enable(request: web.Request) -> web.Response:
    lab = lab_of(request)
    cluster = cluster_or_404(request)
    names = _names(await read_json(request, (list,)), "the request body")
    cluster.extensions = sorted(set(cluster.extensions) | set(names))
    lab.world.changed()
    return ok(cluster.extensions)


async def disable(request: web.Request) -> web.Response:
    lab = lab_of(request)
    cluster = cluster_or_404(request)
    raw = request.query.get("extension_names", "")
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if not names:
        raise bad_request("name the extensions to disable: ?extension_names=a,b")
    _names(names, "extension_names")
    not_enabled = sorted(set(names) - set(cluster.extensions))
    if not_enabled:
        raise bad_request(f"No such extensions to disable: {', '.join(not_enabled)} "
                          f"(environment {cluster.id} has enabled: {', '.join(cluster.extensions) or 'none'})")
    cluster.extensions = [n for n in cluster.extensions if n not in names]
    lab.world.changed()
    return web.Response(status=204)


C = API + r"/clusters/{cluster_id:\d+}/extensions"
ROUTES = [
    ("GET", f"{API}/extensions", list_installed),
    ("GET", C, get_enabled),
    ("PUT", C, enable),
    ("DELETE", C, disable),
]
