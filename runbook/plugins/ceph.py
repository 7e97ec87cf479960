"""Architecture option: Ceph RBD for volumes, images and ephemeral disks; cluster healthy, every OSD up and in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbook.errors import PreflightError
from runbook.lib import ceph
from runbook.plugins import CheckSpec, hookimpl

if TYPE_CHECKING:
    from runbook.procedure.context import Context

BACKENDS = ("volumes_ceph", "images_ceph", "ephemeral_ceph")


def ceph_storage(ctx: Context) -> dict[str, Any]:
    storage = ctx.facts.attributes().get("storage", {})
    values = {key: bool(storage.get(key, {}).get("value")) for key in BACKENDS}
    off = [key for key, on in values.items() if not on]
    if off:
        raise PreflightError(f"env {ctx.env_id} does not use Ceph for {', '.join(off)}",
                             "this procedure upgrades Ceph-backed envs only (volumes, images and ephemeral)")
    return values


def ceph_health(ctx: Context) -> dict[str, Any]:
    node = ctx.facts.controllers()[0]
    status, summary = ceph.health(ctx.pool, node)
    if status != "HEALTH_OK":
        raise PreflightError(f"Ceph is {status} (seen from {node}): {'; '.join(summary) or 'no summary'}",
                             "repair the cluster until `ceph health` says HEALTH_OK (check OSDs and MONs)")
    # A dead OSD is marked out after a while and its data re-replicated: the cluster says
    # HEALTH_OK again, but an upgrade must start with every OSD up and in.
    osds = ceph.osd_tree(ctx.pool, node)
    missing = [f"osd.{o['id']}@{o['host']}" for o in osds if not (o["up"] and o["in"])]
    if missing:
        raise PreflightError(f"Ceph OSDs not up and in (seen from {node}): {', '.join(missing)}",
                             "start them (start ceph-osd id=N on their node) and `ceph osd in N`")
    return {"node": node, "health": status, "osds": len(osds)}


@hookimpl
def preflight_checks() -> list[CheckSpec]:
    return [CheckSpec("ceph_storage", ceph_storage, "Ceph for volumes, images and ephemeral"),
            CheckSpec("ceph_health", ceph_health, "Ceph is HEALTH_OK, every OSD up and in")]
