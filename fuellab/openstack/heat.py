"""Heat's orchestration API v1 (stacks, read side) over the env's heat database."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from aiohttp import web

from fuellab.openstack import liveness
from fuellab.openstack.common import (
    PROJECT_RE,
    Api,
    ApiError,
    Ctx,
    base_url,
    has_table,
    iso,
    json_response,
    truthy,
)

_SPLIT = re.compile(rf"^/v1/({PROJECT_RE})(/.*)?$")


async def versions(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return json_response({"versions": [{"status": "CURRENT", "id": "v1.0", "links": [
        {"href": f"{base_url(request)}/v1/", "rel": "self"}]}]}, 300)


def _tags(conn: sqlite3.Connection) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if has_table(conn, "stack_tag"):
        for r in conn.execute("SELECT stack_id, tag FROM stack_tag ORDER BY id"):
            out.setdefault(r[0], []).append(r[1])
    return out


def _description(conn: sqlite3.Connection, template_id: int | None) -> str:
    row = conn.execute("SELECT template FROM raw_template WHERE id = ?", (template_id,)).fetchone()
    if row is None or not row[0]:
        return ""
    try:
        template = json.loads(row[0])
    except ValueError:
        return ""
    return str(template.get("description", "")) if isinstance(template, dict) else ""


def _view(ctx: Ctx, request: web.Request, conn: sqlite3.Connection, r: sqlite3.Row,
          tags: dict[str, list[str]], full: bool) -> dict[str, Any]:
    link = f"{base_url(request)}/v1/{r['tenant']}/stacks/{r['name']}/{r['id']}"
    view: dict[str, Any] = {
        "id": r["id"], "stack_name": r["name"], "description": _description(conn, r["raw_template_id"]),
        "stack_status": f"{r['action']}_{r['status']}", "stack_status_reason": r["status_reason"] or "",
        "creation_time": iso(r["created_at"]), "updated_time": iso(r["updated_at"]), "deletion_time": None,
        "links": [{"href": link, "rel": "self"}], "stack_owner": r["username"], "parent": r["owner_id"],
        "stack_user_project_id": r["stack_user_project_id"], "tags": tags.get(r["id"]) or None,
    }
    if full:
        try:
            parameters = json.loads(r["parameters"] or "{}")
        except ValueError:
            parameters = {}
        view.update({"parameters": parameters.get("parameters", parameters) if isinstance(parameters, dict)
                     else {}, "outputs": [], "template_description": view["description"],
                     "timeout_mins": r["timeout"], "disable_rollback": bool(r["disable_rollback"]),
                     "capabilities": [], "notification_topics": []})
    return view


def _rows(ctx: Ctx, request: web.Request, conn: sqlite3.Connection) -> list[sqlite3.Row]:
    where = ["deleted_at IS NULL", "owner_id IS NULL", "(backup IS NULL OR backup = 0)"]
    args: list[Any] = []
    admin = ctx.identity is not None and ctx.identity.is_admin
    if not (admin and truthy(request.query.get("global_tenant"))):
        where.append("tenant = ?")
        args.append(ctx.project_in_url or ctx.project_id)
    for key, column in (("name", "name"), ("id", "id")):
        if request.query.get(key):
            where.append(f"{column} = ?")
            args.append(request.query[key])
    found = conn.execute(f"SELECT * FROM stack WHERE {' AND '.join(where)} ORDER BY created_at DESC, id",
                         tuple(args)).fetchall()
    status = request.query.get("status")
    if status:
        found = [r for r in found if status in (r["status"], f"{r['action']}_{r['status']}")]
    return found


async def list_stacks(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        tags = _tags(conn)
        stacks = [_view(ctx, request, conn, r, tags, False) for r in _rows(ctx, request, conn)]
    return json_response({"stacks": stacks})


def _find(ctx: Ctx, conn: sqlite3.Connection, ref: str) -> sqlite3.Row:
    tenant = ctx.project_in_url or ctx.project_id
    row = conn.execute("SELECT * FROM stack WHERE (id = ? OR name = ?) AND tenant = ? AND deleted_at IS NULL",
                       (ref, ref, tenant)).fetchone()
    if row is None:
        raise ApiError(404, f"The Stack ({ref}) could not be found.", "EntityNotFound")
    return row


async def lookup_stack(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        row = _find(ctx, conn, params["ref"])
    location = f"{base_url(request)}/v1/{row['tenant']}/stacks/{row['name']}/{row['id']}"
    raise web.HTTPFound(location)


async def get_stack(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        row = _find(ctx, conn, params["id"])
        if row["name"] != params["name"]:
            raise ApiError(404, f"The Stack ({params['name']}) could not be found.", "EntityNotFound")
        return json_response({"stack": _view(ctx, request, conn, row, _tags(conn), True)})


async def list_services(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read() as conn:
        if not has_table(conn, "service"):
            raise ApiError(404, "The resource could not be found.", "NotFound")
        found = conn.execute("SELECT * FROM service WHERE deleted_at IS NULL ORDER BY host").fetchall()
    return json_response({"services": [{
        "id": r["id"], "engine_id": r["engine_id"], "host": r["host"], "hostname": r["hostname"],
        "binary": r["binary"], "topic": r["topic"], "report_interval": r["report_interval"],
        "status": "up" if liveness.heat_engine_up(ctx.lab, ctx.cluster, r["host"]) else "down",
        "created_at": iso(r["created_at"], micro=True, zulu=False),
        "updated_at": iso(r["updated_at"], micro=True, zulu=False), "deleted_at": None} for r in found]})


class HeatApi(Api):
    service = "heat"

    def __init__(self) -> None:
        super().__init__()
        r = self.route
        r("GET", "/", versions, public=True)
        r("GET", "/stacks", list_stacks)
        r("GET", "/stacks/{ref}", lookup_stack)
        r("GET", "/stacks/{name}/{id}", get_stack)
        r("GET", "/services", list_services)

    def split(self, path: str) -> tuple[str | None, str | None, str]:
        found = _SPLIT.match(path)
        if found is None:
            return None, None, path if path == "/" else f"/unversioned{path}"
        return "v1", found.group(1), found.group(2) or "/"

    def error_response(self, exc: ApiError) -> web.Response:
        title = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 405: "Method Not Allowed", 409: "Conflict"}.get(exc.status, "Internal Server Error")
        kind = exc.kind if exc.kind and exc.kind[0].isupper() else title.replace(" ", "")
        return json_response({"explanation": title if exc.status < 500 else "The server has either erred or is "
                              "incapable of performing the requested operation.", "code": exc.status,
                              "error": {"message": exc.message, "traceback": None, "type": kind},
                              "title": title}, exc.status, exc.headers)
