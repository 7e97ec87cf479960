"""Cinder's block storage API (v2, and v3 at microversion 3.0) over the env's cinder database.

Volumes are the `volumes` rows; attachments come from the volume row at Juno
and from `volume_attachment` after Kilo's migration 040 moved them there, so a
synced database still shows its attachments. Services are the `services` rows
with their state from what runs (fuellab.openstack.liveness). A created volume
is `creating` until the env's cinder-volume takes it (a few lab seconds), then
`available`; with no cinder-volume up it ends in `error`, as the scheduler's
"No valid host" would leave it. Deletion goes through `deleting` the same way.
"""

from __future__ import annotations

import re
import sqlite3
import uuid as uuidlib
from typing import Any

from aiohttp import web

from fuellab import galera
from fuellab.openstack import backend, liveness
from fuellab.openstack.common import (
    PROJECT_RE,
    Api,
    ApiError,
    Ctx,
    bad_request,
    base_url,
    empty,
    has_table,
    insert,
    iso,
    json_response,
    next_links,
    not_found,
    page_of,
    read_body,
    truthy,
)

MAX_LIMIT = 1000
WORK_SECONDS = 5.0  # lab seconds cinder-volume takes to create or delete an RBD image
_SPLIT = re.compile(rf"^/(v1|v2|v3)(?:/({PROJECT_RE}))?(/.*)?$")


def _microversion_headers(ctx: Ctx) -> dict[str, str]:
    if ctx.extra.get("version") != "v3":
        return {}
    return {"OpenStack-API-Version": "volume 3.0", "Vary": "OpenStack-API-Version"}


def respond(ctx: Ctx, data: Any, status: int = 200) -> web.Response:
    return json_response(data, status, _microversion_headers(ctx))


def _check_microversion(ctx: Ctx, request: web.Request) -> None:
    asked = request.headers.get("OpenStack-API-Version", "")
    for part in asked.split(","):
        words = part.strip().split()
        if len(words) == 2 and words[0].lower() == "volume" and words[1] not in ("3.0", "latest") \
                and ctx.extra.get("version") == "v3":
            raise ApiError(406, f"Version {words[1]} is not supported by the API. Minimum is 3.0 and "
                                    "maximum is 3.0.", "computeFault")


def _version(request: web.Request, version: str) -> dict[str, Any]:
    status = {"v1": "DEPRECATED", "v2": "SUPPORTED", "v3": "CURRENT"}[version]
    return {"id": f"{version}.0", "status": status, "updated": "2016-02-08T12:20:21Z",
            "version": "3.0" if version == "v3" else "", "min_version": "3.0" if version == "v3" else "",
            "links": [{"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
                      {"rel": "self", "href": f"{base_url(request)}/{version}/"}],
            "media-types": [{"base": "application/json",
                             "type": f"application/vnd.openstack.volume+json;version={version[1:]}"}]}


async def root(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    version = ctx.extra.get("version")
    if version is None:
        return json_response({"versions": [_version(request, v) for v in ("v1", "v2", "v3")]}, 300)
    return json_response({"versions": [_version(request, version)]})


def _prefix(ctx: Ctx, request: web.Request) -> str:
    version = ctx.extra.get("version") or "v3"
    project = f"/{ctx.project_in_url}" if ctx.project_in_url else ""
    return f"{base_url(request)}/{version}{project}"


# --------------------------------------------------------------------------- volumes


def _attachments(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    if has_table(conn, "volume_attachment"):
        for r in conn.execute("SELECT * FROM volume_attachment WHERE (deleted = 0 OR deleted IS NULL) "
                              "AND attach_status = 'attached'"):
            out.setdefault(r["volume_id"], []).append({
                "server_id": r["instance_uuid"], "attachment_id": r["id"], "host_name": r["attached_host"],
                "volume_id": r["volume_id"], "device": r["mountpoint"], "id": r["volume_id"],
                "attached_at": iso(r["attach_time"], micro=True, zulu=False)})
    else:
        for r in conn.execute("SELECT * FROM volumes WHERE (deleted = 0 OR deleted IS NULL) "
                              "AND attach_status = 'attached'"):
            out.setdefault(r["id"], []).append({
                "server_id": r["instance_uuid"], "attachment_id": r["id"], "host_name": r["attached_host"],
                "volume_id": r["id"], "device": r["mountpoint"], "id": r["id"]})
    return out


def _volume_view(ctx: Ctx, request: web.Request, r: sqlite3.Row, attachments: dict[str, list[dict[str, Any]]],
                 metadata: dict[str, dict[str, str]], types: dict[str, str]) -> dict[str, Any]:
    prefix = _prefix(ctx, request)
    keys = r.keys()
    view: dict[str, Any] = {
        "id": r["id"], "name": r["display_name"], "description": r["display_description"],
        "status": r["status"], "size": r["size"], "availability_zone": r["availability_zone"],
        "created_at": iso(r["created_at"], micro=True, zulu=False),
        "updated_at": iso(r["updated_at"], micro=True, zulu=False),
        "attachments": attachments.get(r["id"], []), "bootable": "true" if r["bootable"] else "false",
        "encrypted": bool(r["encryption_key_id"]), "volume_type": types.get(r["volume_type_id"] or ""),
        "snapshot_id": r["snapshot_id"], "source_volid": r["source_volid"],
        "metadata": metadata.get(r["id"], {}), "user_id": r["user_id"],
        "links": [{"rel": "self", "href": f"{prefix}/volumes/{r['id']}"},
                  {"rel": "bookmark", "href": f"{base_url(request)}/volumes/{r['id']}"}],
        "replication_status": r["replication_status"] or "disabled",
        "consistencygroup_id": r["consistencygroup_id"],
        "multiattach": bool(r["multiattach"]) if "multiattach" in keys else False,
    }
    if ctx.identity is not None and ctx.identity.is_admin:
        view.update({"os-vol-host-attr:host": r["host"], "os-vol-tenant-attr:tenant_id": r["project_id"],
                     "os-vol-mig-status-attr:migstat": r["migration_status"],
                     "os-vol-mig-status-attr:name_id": r["_name_id"]})
    else:
        view["os-vol-tenant-attr:tenant_id"] = r["project_id"]
    return view


def _lookups(conn: sqlite3.Connection) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, str]],
                                                dict[str, str]]:
    metadata: dict[str, dict[str, str]] = {}
    for r in conn.execute("SELECT volume_id, key, value FROM volume_metadata WHERE deleted = 0 OR deleted IS NULL"):
        metadata.setdefault(r[0], {})[r[1]] = r[2]
    types = {r["id"]: r["name"] for r in conn.execute("SELECT id, name FROM volume_types")}
    return _attachments(conn), metadata, types


def _volume_rows(ctx: Ctx, request: web.Request, conn: sqlite3.Connection) -> list[sqlite3.Row]:
    query = request.query
    where = ["(deleted = 0 OR deleted IS NULL)"]
    args: list[Any] = []
    admin = ctx.identity is not None and ctx.identity.is_admin
    if not (admin and truthy(query.get("all_tenants", "0" if "all_tenants" not in query else "1"))):
        where.append("project_id = ?")
        args.append(ctx.project_id)
    elif query.get("project_id"):
        where.append("project_id = ?")
        args.append(query["project_id"])
    if query.get("status"):
        where.append("status = ?")
        args.append(query["status"])
    if query.get("name"):
        where.append("display_name = ?")
        args.append(query["name"])
    if admin and query.get("host"):
        where.append("host = ?")
        args.append(query["host"])
    return conn.execute(f"SELECT * FROM volumes WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC",
                        tuple(args)).fetchall()


async def list_volumes(ctx: Ctx, request: web.Request, params: dict[str, str], detail: bool = False
                       ) -> web.Response:
    _check_microversion(ctx, request)
    with ctx.read() as conn:
        page, limit, more = page_of(
            _volume_rows(ctx, request, conn), request, max_limit=MAX_LIMIT,
            marker_error=lambda m: not_found(f"Marker {m} could not be found."))
        if detail:
            lookups = _lookups(conn)
            volumes = [_volume_view(ctx, request, r, *lookups) for r in page]
        else:
            prefix = _prefix(ctx, request)
            volumes = [{"id": r["id"], "name": r["display_name"],
                        "links": [{"rel": "self", "href": f"{prefix}/volumes/{r['id']}"}]} for r in page]
    body: dict[str, Any] = {"volumes": volumes}
    if page and more:
        suffix = "/detail" if detail else ""
        body["volumes_links"] = next_links(request, f"{_prefix(ctx, request)}/volumes{suffix}",
                                           limit, page[-1]["id"])
    return respond(ctx, body)


async def list_volumes_detail(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return await list_volumes(ctx, request, params, detail=True)


def _one(ctx: Ctx, conn: sqlite3.Connection, volume_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM volumes WHERE id = ? AND (deleted = 0 OR deleted IS NULL)",
                       (volume_id,)).fetchone()
    admin = ctx.identity is not None and ctx.identity.is_admin
    if row is None or (not admin and row["project_id"] != ctx.project_id):
        raise not_found(f"Volume {volume_id} could not be found.")
    return row


async def get_volume(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    _check_microversion(ctx, request)
    with ctx.read() as conn:
        row = _one(ctx, conn, params["id"])
        view = _volume_view(ctx, request, row, *_lookups(conn))
    return respond(ctx, {"volume": view})


def _volume_service(ctx: Ctx) -> str | None:
    """The host of an up, enabled cinder-volume of the env (the scheduler's pick), if any."""
    with ctx.read() as conn:
        found = conn.execute("SELECT host FROM services WHERE \"binary\" = 'cinder-volume' AND "
                             "(deleted = 0 OR deleted IS NULL) AND NOT disabled ORDER BY id").fetchall()
    for r in found:
        if liveness.cinder_service_up(ctx.lab, ctx.cluster, r["host"], "cinder-volume"):
            return r["host"]
    return None


def _own_backend(ctx: Ctx, volume_id: str) -> str | None:
    """The up cinder-volume of the backend the volume lives on (its `host`): a delete is cast to that
    backend, and nobody else removes its image. A volume never placed asks any up cinder-volume."""
    with ctx.read() as conn:
        row = conn.execute("SELECT host FROM volumes WHERE id = ?", (volume_id,)).fetchone()
    if row is None or not row["host"]:
        return _volume_service(ctx)
    return row["host"] if liveness.cinder_service_up(ctx.lab, ctx.cluster, row["host"], "cinder-volume") else None


async def _finish(ctx: Ctx, volume_id: str, deleting: bool) -> None:
    """cinder-volume's part: the RBD image is made (or removed) some lab seconds later."""
    await ctx.lab.clock.sleep(WORK_SECONDS)
    try:
        host = _own_backend(ctx, volume_id) if deleting else _volume_service(ctx)
    except (backend.ServiceDown, galera.GaleraError, sqlite3.Error):
        return
    now = ctx.now()
    try:
        with backend.write(ctx.lab, ctx.binding) as conn:
            if deleting:
                if host is None:
                    conn.execute("UPDATE volumes SET status = 'error_deleting', updated_at = ? "
                                 "WHERE id = ? AND status = 'deleting'", (now, volume_id))
                else:
                    conn.execute("UPDATE volumes SET status = 'deleted', deleted = 1, deleted_at = ?, "
                                 "terminated_at = ?, updated_at = ? WHERE id = ? AND status = 'deleting'",
                                 (now, now, now, volume_id))
            elif host is None:
                conn.execute("UPDATE volumes SET status = 'error', updated_at = ? WHERE id = ? AND "
                             "status = 'creating'", (now, volume_id))
            else:
                conn.execute("UPDATE volumes SET status = 'available', host = ?, launched_at = ?, updated_at = ? "
                             "WHERE id = ? AND status = 'creating'", (host, now, now, volume_id))
    except (backend.ServiceDown, galera.GaleraError, sqlite3.Error):
        return  # the database went away meanwhile: the volume stays where it was


async def create_volume(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    _check_microversion(ctx, request)
    body = (await read_body(request)).get("volume")
    if not isinstance(body, dict):
        raise bad_request("Missing required element 'volume' in request body.")
    try:
        size = int(body.get("size"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise bad_request("Invalid input received: 'size' must be an integer greater than 0") from None
    if size <= 0:
        raise bad_request("Invalid input received: 'size' must be an integer greater than 0")
    identity = ctx.identity
    assert identity is not None
    volume_id = str(uuidlib.uuid4())
    now = ctx.now()
    with ctx.write() as conn:
        type_id = None
        if body.get("volume_type"):
            found = conn.execute("SELECT id FROM volume_types WHERE (name = ? OR id = ?) AND "
                                 "(deleted = 0 OR deleted IS NULL)",
                                 (body["volume_type"], body["volume_type"])).fetchone()
            if found is None:
                raise not_found(f"Volume type {body['volume_type']} could not be found.")
            type_id = found["id"]
        insert(conn, "volumes", {
            "created_at": now, "updated_at": now, "deleted": 0, "id": volume_id, "user_id": identity.user_id,
            "project_id": identity.project_id, "size": size,
            "availability_zone": body.get("availability_zone") or "nova", "status": "creating",
            "attach_status": "detached", "display_name": body.get("name"),
            "display_description": body.get("description"), "volume_type_id": type_id,
            "snapshot_id": body.get("snapshot_id"), "source_volid": body.get("source_volid"),
            "bootable": int(bool(body.get("imageRef"))), "multiattach": 0, "scheduled_at": now,
        })
        for key, value in (body.get("metadata") or {}).items():
            insert(conn, "volume_metadata", {"created_at": now, "deleted": 0, "volume_id": volume_id,
                                             "key": key, "value": str(value)})
        row = conn.execute("SELECT * FROM volumes WHERE id = ?", (volume_id,)).fetchone()
        view = _volume_view(ctx, request, row, *_lookups(conn))
    ctx.lab.spawn(_finish(ctx, volume_id, deleting=False), f"cinder-create-{volume_id}")
    return respond(ctx, {"volume": view}, 202)


async def delete_volume(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    _check_microversion(ctx, request)
    with ctx.write() as conn:
        row = _one(ctx, conn, params["id"])
        if row["status"] not in ("available", "error", "error_restoring", "error_extending", "error_deleting"):
            raise bad_request("Invalid volume: Volume status must be available or error or error_restoring or "
                              "error_extending and must not be migrating, attached, belong to a consistency "
                              "group or have snapshots.")
        if _attachments(conn).get(row["id"]):
            raise bad_request("Invalid volume: Volume cannot be deleted while in attached state")
        conn.execute("UPDATE volumes SET status = 'deleting', updated_at = ? WHERE id = ?", (ctx.now(), row["id"]))
    ctx.lab.spawn(_finish(ctx, params["id"], deleting=True), f"cinder-delete-{params['id']}")
    return empty(202, _microversion_headers(ctx))


# --------------------------------------------------------------------------- services, types, quotas


def _service_view(ctx: Ctx, r: sqlite3.Row) -> dict[str, Any]:
    up = liveness.cinder_service_up(ctx.lab, ctx.cluster, r["host"], r["binary"])
    return {"binary": r["binary"], "host": r["host"], "zone": r["availability_zone"] or "nova",
            "status": "disabled" if r["disabled"] else "enabled", "state": "up" if up else "down",
            "updated_at": iso(ctx.now() if up else (r["updated_at"] or r["created_at"]), micro=True, zulu=False),
            "disabled_reason": r["disabled_reason"]}


async def list_services(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    _check_microversion(ctx, request)
    where, args = ["(deleted = 0 OR deleted IS NULL)"], []
    for param in ("host", "binary"):
        if request.query.get(param):
            where.append(f'"{param}" = ?')
            args.append(request.query[param])
    with ctx.read() as conn:
        found = conn.execute(f"SELECT * FROM services WHERE {' AND '.join(where)} ORDER BY id",
                             tuple(args)).fetchall()
    return respond(ctx, {"services": [_service_view(ctx, r) for r in found]})


async def update_service(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    action = params["action"]
    if action not in ("enable", "disable", "disable-log-reason"):
        raise not_found(f"Unknown action {action}")
    body = await read_body(request)
    host, binary = body.get("host"), body.get("binary") or body.get("service")
    disabled = action != "enable"
    reason = body.get("disabled_reason") if action == "disable-log-reason" else None
    with ctx.write() as conn:
        done = conn.execute('UPDATE services SET disabled = ?, disabled_reason = ?, updated_at = ? '
                            'WHERE host = ? AND "binary" = ? AND (deleted = 0 OR deleted IS NULL)',
                            (int(disabled), reason, ctx.now(), host, binary))
        if done.rowcount == 0:
            raise not_found("Unknown service")
    return respond(ctx, {"host": host, "service": binary, "binary": binary, "disabled": disabled,
                         "status": "disabled" if disabled else "enabled", "disabled_reason": reason})


def _type_view(r: sqlite3.Row) -> dict[str, Any]:
    keys = r.keys()
    public = bool(r["is_public"]) if "is_public" in keys and r["is_public"] is not None else True
    return {"id": r["id"], "name": r["name"], "extra_specs": {}, "is_public": public,
            "os-volume-type-access:is_public": public,
            "description": r["description"] if "description" in keys else None}


async def list_types(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        found = conn.execute("SELECT * FROM volume_types WHERE deleted = 0 OR deleted IS NULL ORDER BY name"
                             ).fetchall()
    return respond(ctx, {"volume_types": [_type_view(r) for r in found]})


async def get_type(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        row = conn.execute("SELECT * FROM volume_types WHERE id = ? AND (deleted = 0 OR deleted IS NULL)",
                           (params["id"],)).fetchone()
    if row is None:
        raise not_found(f"Volume type {params['id']} could not be found.")
    return respond(ctx, {"volume_type": _type_view(row)})


def _quotas(conn: sqlite3.Connection, project: str | None) -> dict[str, int]:
    out = {r["resource"]: r["hard_limit"] for r in conn.execute(
        "SELECT resource, hard_limit FROM quota_classes WHERE class_name = 'default' AND "
        "(deleted = 0 OR deleted IS NULL)")}
    if project:
        for r in conn.execute("SELECT resource, hard_limit FROM quotas WHERE project_id = ? AND "
                              "(deleted = 0 OR deleted IS NULL)", (project,)):
            out[r["resource"]] = r["hard_limit"]
    return out


async def get_quotas(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        quotas = _quotas(conn, None if params.get("defaults") else params["project"])
    return respond(ctx, {"quota_set": {"id": params["project"], **quotas}})


async def get_default_quotas(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return await get_quotas(ctx, request, {**params, "defaults": "1"})


async def availability_zones(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    available = _volume_service(ctx) is not None
    return respond(ctx, {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": available}}]})


async def limits(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        quotas = _quotas(conn, ctx.project_id)
        used = conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM volumes WHERE project_id = ? AND "
                            "(deleted = 0 OR deleted IS NULL)", (ctx.project_id,)).fetchone()
    return respond(ctx, {"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": quotas.get("volumes", -1), "maxTotalSnapshots": quotas.get("snapshots", -1),
        "maxTotalVolumeGigabytes": quotas.get("gigabytes", -1), "maxTotalBackups": 10,
        "maxTotalBackupGigabytes": 1000, "totalVolumesUsed": used[0], "totalGigabytesUsed": used[1],
        "totalSnapshotsUsed": 0, "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0}}})


# --------------------------------------------------------------------------- the API


class CinderApi(Api):
    service = "cinder"

    def __init__(self) -> None:
        super().__init__()
        r = self.route
        r("GET", "/", root, public=True)
        r("GET", "/volumes", list_volumes)
        r("GET", "/volumes/detail", list_volumes_detail)
        r("POST", "/volumes", create_volume)
        r("GET", "/volumes/{id}", get_volume)
        r("DELETE", "/volumes/{id}", delete_volume)
        r("GET", "/os-services", list_services)
        r("PUT", "/os-services/{action}", update_service)
        r("GET", "/types", list_types)
        r("GET", "/types/{id}", get_type)
        r("GET", "/os-quota-sets/{project}", get_quotas)
        r("GET", "/os-quota-sets/{project}/defaults", get_default_quotas)
        r("GET", "/os-availability-zone", availability_zones)
        r("GET", "/limits", limits)

    def split(self, path: str) -> tuple[str | None, str | None, str]:
        found = _SPLIT.match(path)
        if found is None:
            return None, None, path if path == "/" else f"/unversioned{path}"
        return found.group(1), found.group(2), found.group(3) or "/"

