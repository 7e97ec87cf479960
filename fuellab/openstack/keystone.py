"""Keystone of an env: v3 (and v2.0) tokens with the catalog, over the env's keystone database.

Users, projects, domains, roles, assignments and the catalog are the rows of
the keystone database the API reaches (fuellab.openstack.backend), so a
restored dump answers with the original's users and catalog. Passwords are
checked against the stored hash (fuellab.openstack.seed's PBKDF2 layout).
UUID tokens are kept where the serving node's keystone.conf says
(fuellab.openstack.tokens): the database's `token` table, as keystone's SQL
token backend does (they travel with a dump like any other row), or the env's
memcached, as Fuel deploys it (issuing a token then writes nothing to MySQL).
Their expiry is in real UTC: clients compare it with their own clock.

The other APIs validate a request's X-Auth-Token against the same store of
the env whose database they serve (`identify`).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import timedelta
from typing import Any

from aiohttp import web

from fuellab.openstack import seed, tokens
from fuellab.openstack.common import (
    Api,
    ApiError,
    Ctx,
    Identity,
    base_url,
    json_response,
    read_body,
    utcnow,
)
from fuellab.releases import JUNO

TOKEN_LIFE = timedelta(hours=24)
TENANT_MARKERS = ("%(tenant_id)s", "$(tenant_id)s", "%(project_id)s", "$(project_id)s")


# --------------------------------------------------------------------------- errors


def unauthorized(message: str = "The request you have made requires authentication.") -> ApiError:
    return ApiError(401, message)


def _stamp(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


# --------------------------------------------------------------------------- lookups


def _domain(conn: sqlite3.Connection, ref: dict[str, Any] | None) -> sqlite3.Row | None:
    if not ref:
        return None
    if "id" in ref:
        return conn.execute("SELECT * FROM domain WHERE id = ?", (ref["id"],)).fetchone()
    if "name" in ref:
        return conn.execute("SELECT * FROM domain WHERE name = ?", (ref["name"],)).fetchone()
    return None


def _domain_by_id(conn: sqlite3.Connection, domain_id: str) -> dict[str, str]:
    row = conn.execute("SELECT id, name FROM domain WHERE id = ?", (domain_id,)).fetchone()
    return {"id": domain_id, "name": row["name"] if row else domain_id}


def _user(conn: sqlite3.Connection, ref: dict[str, Any]) -> sqlite3.Row | None:
    if "id" in ref:
        return conn.execute('SELECT * FROM "user" WHERE id = ?', (ref["id"],)).fetchone()
    domain = _domain(conn, ref.get("domain"))
    if domain is None or "name" not in ref:
        return None
    return conn.execute('SELECT * FROM "user" WHERE name = ? AND domain_id = ?',
                        (ref["name"], domain["id"])).fetchone()


def _project(conn: sqlite3.Connection, ref: dict[str, Any]) -> sqlite3.Row | None:
    if "id" in ref:
        return conn.execute("SELECT * FROM project WHERE id = ?", (ref["id"],)).fetchone()
    domain = _domain(conn, ref.get("domain"))
    if domain is None or "name" not in ref:
        return None
    return conn.execute("SELECT * FROM project WHERE name = ? AND domain_id = ?",
                        (ref["name"], domain["id"])).fetchone()


def roles_on(conn: sqlite3.Connection, user_id: str, target_id: str) -> list[dict[str, str]]:
    found = conn.execute(
        "SELECT DISTINCT r.id, r.name FROM assignment a JOIN role r ON r.id = a.role_id "
        "WHERE a.actor_id = ? AND a.target_id = ? AND a.type IN ('UserProject', 'UserDomain') "
        "ORDER BY r.name", (user_id, target_id)).fetchall()
    return [{"id": r["id"], "name": r["name"]} for r in found]


def _enabled(row: sqlite3.Row) -> bool:
    return row["enabled"] is None or bool(row["enabled"])


def catalog(conn: sqlite3.Connection, project_id: str | None) -> list[dict[str, Any]]:
    """The v3 catalog from the service and endpoint tables, tenant markers filled in."""
    out = []
    for svc in conn.execute("SELECT * FROM service ORDER BY type, id").fetchall():
        if not _enabled(svc):
            continue
        extra = json.loads(svc["extra"] or "{}")
        endpoints = []
        for ep in conn.execute("SELECT * FROM endpoint WHERE service_id = ? ORDER BY interface",
                               (svc["id"],)).fetchall():
            if not _enabled(ep):
                continue
            url = ep["url"]
            if any(m in url for m in TENANT_MARKERS):
                if project_id is None:
                    continue
                for marker in TENANT_MARKERS:
                    url = url.replace(marker, project_id)
            endpoints.append({"id": ep["id"], "interface": ep["interface"], "region": ep["region_id"],
                              "region_id": ep["region_id"], "url": url})
        out.append({"id": svc["id"], "type": svc["type"], "name": extra.get("name", svc["type"]),
                    "endpoints": endpoints})
    return out


# --------------------------------------------------------------------------- tokens


def _issue(ctx: Ctx, user: sqlite3.Row, project: sqlite3.Row | None, methods: list[str],
           audit: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    issued = utcnow()
    expires = issued + TOKEN_LIFE
    token_id = uuid.uuid4().hex
    extra = {"user_id": user["id"], "project_id": project["id"] if project else None,
             "methods": methods, "issued_at": _stamp(issued), "expires_at": _stamp(expires),
             "audit_ids": (audit or []) + [uuid.uuid4().hex[:22]]}
    tokens.save(ctx, token_id, extra, user["id"], expires.strftime("%Y-%m-%d %H:%M:%S.%f"))
    return token_id, extra


def _load_token(ctx: Ctx, conn: sqlite3.Connection, token_id: str | None) -> dict[str, Any] | None:
    """A valid, unexpired token's data, from where the serving keystone keeps tokens (fuellab.openstack.tokens)."""
    extra = tokens.find(ctx, conn, token_id)
    if extra is None:
        return None
    expires_at = extra.get("expires_at")
    if not expires_at or expires_at <= _stamp(utcnow()):
        return None
    return extra


def token_body(conn: sqlite3.Connection, extra: dict[str, Any], with_catalog: bool = True) -> dict[str, Any]:
    user = conn.execute('SELECT * FROM "user" WHERE id = ?', (extra["user_id"],)).fetchone()
    if user is None or not _enabled(user):
        raise ApiError(404, "Could not find token.")
    body: dict[str, Any] = {
        "methods": extra.get("methods", ["password"]),
        "user": {"id": user["id"], "name": user["name"], "domain": _domain_by_id(conn, user["domain_id"]),
                 "password_expires_at": None},
        "expires_at": extra["expires_at"],
        "issued_at": extra["issued_at"],
        "audit_ids": extra.get("audit_ids", []),
    }
    project_id = extra.get("project_id")
    if project_id:
        project = conn.execute("SELECT * FROM project WHERE id = ?", (project_id,)).fetchone()
        if project is None or not _enabled(project):
            raise ApiError(404, "Could not find token.")
        body["project"] = {"id": project["id"], "name": project["name"],
                           "domain": _domain_by_id(conn, project["domain_id"])}
        body["is_domain"] = False
        body["roles"] = roles_on(conn, user["id"], project["id"])
        if with_catalog:
            body["catalog"] = catalog(conn, project["id"])
    return body


def identify(ctx: Ctx, token_id: str | None) -> Identity | None:
    """Who a token stands for, in the keystone database of the env the request is served from."""
    if not token_id:
        return None
    try:
        with ctx.read("keystone") as conn:
            extra = _load_token(ctx, conn, token_id)
            if extra is None:
                return None
            user = conn.execute('SELECT id, name, enabled, domain_id FROM "user" WHERE id = ?',
                                (extra["user_id"],)).fetchone()
            if user is None or not _enabled(user):
                return None
            project_id = extra.get("project_id")
            project_name = None
            roles: list[dict[str, str]] = []
            if project_id:
                project = conn.execute("SELECT name, enabled FROM project WHERE id = ?",
                                       (project_id,)).fetchone()
                if project is None or not _enabled(project):
                    return None
                project_name = project["name"]
                roles = roles_on(conn, user["id"], project_id)
    except Exception:  # no keystone database in this env: nobody is known
        return None
    return Identity(token_id, user["id"], user["name"], project_id, project_name,
                    tuple(r["name"] for r in roles), user["domain_id"])


# --------------------------------------------------------------------------- v3 handlers


def _v3_version(ctx: Ctx, request: web.Request) -> dict[str, Any]:
    juno = ctx.node.release == JUNO
    return {"id": "v3.0" if juno else "v3.4", "status": "stable",
            "updated": "2013-03-06T00:00:00Z" if juno else "2015-03-30T00:00:00Z",
            "links": [{"rel": "self", "href": f"{base_url(request)}/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}]}


def _v2_version(request: web.Request) -> dict[str, Any]:
    return {"id": "v2.0", "status": "stable", "updated": "2014-04-17T00:00:00Z",
            "links": [{"rel": "self", "href": f"{base_url(request)}/v2.0/"},
                      {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v2.0+json"}]}


async def versions(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return json_response({"versions": {"values": [_v3_version(ctx, request), _v2_version(request)]}}, 300)


async def version_v3(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return json_response({"version": _v3_version(ctx, request)})


async def version_v2(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return json_response({"version": _v2_version(request)})


def _authenticate(ctx: Ctx, conn: sqlite3.Connection, identity: dict[str, Any]) -> tuple[sqlite3.Row, list[str],
                                                                                list[str], str | None]:
    """The user an auth request proves, the methods used, audit chain and a previous project."""
    methods = identity.get("methods") or []
    if "password" in methods:
        ref = (identity.get("password") or {}).get("user") or {}
        user = _user(conn, ref)
        if user is None or not _enabled(user) or not seed.keystone_password_check(
                str(ref.get("password", "")), user["password"]):
            raise unauthorized("The request you have made requires authentication.")
        return user, ["password"], [], None
    if "token" in methods:
        extra = _load_token(ctx, conn, (identity.get("token") or {}).get("id"))
        if extra is None:
            raise unauthorized("The request you have made requires authentication.")
        user = conn.execute('SELECT * FROM "user" WHERE id = ?', (extra["user_id"],)).fetchone()
        if user is None or not _enabled(user):
            raise unauthorized()
        return user, list(extra.get("methods", ["password"])), list(extra.get("audit_ids", [])), \
            extra.get("project_id")
    raise unauthorized("Attempted to authenticate with an unsupported method.")


async def auth_tokens(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    body = await read_body(request)
    auth = body.get("auth")
    if not isinstance(auth, dict) or not isinstance(auth.get("identity"), dict):
        raise ApiError(400, "Expecting to find identity in auth - the server could not comply with the "
                            "request since it is either malformed or otherwise incorrect.")
    with ctx.read("keystone") as conn:
        user, methods, audit, previous = _authenticate(ctx, conn, auth["identity"])
        scope = auth.get("scope")
        project = None
        if isinstance(scope, dict) and "project" in scope:
            project = _project(conn, scope["project"] or {})
            if project is None or not _enabled(project):
                raise unauthorized("Could not find project.")
            if not roles_on(conn, user["id"], project["id"]):
                raise unauthorized(f"User {user['id']} has no access to project {project['id']}")
        elif isinstance(scope, dict) and scope:
            raise unauthorized("The lab's keystone scopes tokens to projects only.")
        elif previous is not None:
            project = conn.execute("SELECT * FROM project WHERE id = ?", (previous,)).fetchone()
    token_id, extra = _issue(ctx, user, project, methods, audit)
    with ctx.read("keystone") as conn:
        data = token_body(conn, extra, with_catalog="nocatalog" not in request.query)
    return json_response({"token": data}, 201, {"X-Subject-Token": token_id})


async def validate_token(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read("keystone") as conn:
        extra = _load_token(ctx, conn, request.headers.get("X-Subject-Token"))
        if extra is None:
            raise ApiError(404, "Could not find token.")
        data = token_body(conn, extra, with_catalog="nocatalog" not in request.query)
    return json_response({"token": data}, headers={"X-Subject-Token": request.headers["X-Subject-Token"]})


async def revoke_token(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    subject = request.headers.get("X-Subject-Token")
    with ctx.read("keystone") as conn:
        if _load_token(ctx, conn, subject) is None:
            raise ApiError(404, "Could not find token.")
    tokens.revoke(ctx, subject)
    return web.Response(status=204)


async def auth_catalog(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read("keystone") as conn:
        return json_response({"catalog": catalog(conn, ctx.project_id),
                              "links": {"self": f"{base_url(request)}/v3/auth/catalog"}})


def _project_view(conn: sqlite3.Connection, row: sqlite3.Row, request: web.Request) -> dict[str, Any]:
    extra = json.loads(row["extra"] or "{}")
    out = {**extra, "id": row["id"], "name": row["name"], "description": row["description"] or "",
           "enabled": _enabled(row), "domain_id": row["domain_id"], "is_domain": False,
           "parent_id": row["parent_id"] if "parent_id" in row.keys() else None,  # noqa: SIM118 - a Row's `in` tests values
           "links": {"self": f"{base_url(request)}/v3/projects/{row['id']}"}}
    return out


def _user_view(row: sqlite3.Row, request: web.Request) -> dict[str, Any]:
    extra = json.loads(row["extra"] or "{}")
    return {**extra, "id": row["id"], "name": row["name"], "enabled": _enabled(row),
            "domain_id": row["domain_id"], "default_project_id": row["default_project_id"],
            "password_expires_at": None,
            "links": {"self": f"{base_url(request)}/v3/users/{row['id']}"}}


def _list(request: web.Request, key: str, items: list[dict[str, Any]]) -> web.Response:
    for name in ("name", "domain_id", "enabled", "type", "interface", "service_id", "region_id"):
        wanted = request.query.get(name)
        if wanted is not None:
            if name == "enabled":
                flag = wanted.lower() in ("1", "true", "yes")
                items = [i for i in items if bool(i.get(name)) == flag]
            else:
                items = [i for i in items if str(i.get(name)) == wanted]
    return json_response({key: items, "links": {"self": f"{base_url(request)}{request.path_qs}",
                                                "previous": None, "next": None}})


async def list_projects(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read("keystone") as conn:
        items = [_project_view(conn, r, request) for r in conn.execute("SELECT * FROM project ORDER BY name")]
    return _list(request, "projects", items)


async def get_project(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read("keystone") as conn:
        row = conn.execute("SELECT * FROM project WHERE id = ?", (params["id"],)).fetchone()
        if row is None or (not (ctx.identity and ctx.identity.is_admin) and row["id"] != ctx.project_id):
            raise ApiError(404, f"Could not find project: {params['id']}.")
        return json_response({"project": _project_view(conn, row, request)})


async def list_users(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read("keystone") as conn:
        items = [_user_view(r, request) for r in conn.execute('SELECT * FROM "user" ORDER BY name')]
    return _list(request, "users", items)


async def get_user(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read("keystone") as conn:
        row = conn.execute('SELECT * FROM "user" WHERE id = ?', (params["id"],)).fetchone()
    if row is None or (not (ctx.identity and ctx.identity.is_admin) and row["id"] != ctx.identity.user_id):
        raise ApiError(404, f"Could not find user: {params['id']}.")
    return json_response({"user": _user_view(row, request)})


async def user_projects(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    user_id = params.get("id") or (ctx.identity.user_id if ctx.identity else "")
    if ctx.identity is None or (user_id != ctx.identity.user_id and not ctx.identity.is_admin):
        raise ApiError(403, "You are not authorized to perform the requested action.")
    with ctx.read("keystone") as conn:
        found = conn.execute(
            "SELECT DISTINCT p.* FROM project p JOIN assignment a ON a.target_id = p.id "
            "WHERE a.actor_id = ? AND a.type = 'UserProject' ORDER BY p.name", (user_id,)).fetchall()
        items = [_project_view(conn, r, request) for r in found]
    return _list(request, "projects", items)


async def list_roles(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read("keystone") as conn:
        items = [{"id": r["id"], "name": r["name"], "domain_id": None,
                  "links": {"self": f"{base_url(request)}/v3/roles/{r['id']}"}}
                 for r in conn.execute("SELECT * FROM role ORDER BY name")]
    return _list(request, "roles", items)


async def list_domains(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read("keystone") as conn:
        items = [{**json.loads(r["extra"] or "{}"), "id": r["id"], "name": r["name"],
                  "enabled": _enabled(r), "links": {"self": f"{base_url(request)}/v3/domains/{r['id']}"}}
                 for r in conn.execute("SELECT * FROM domain ORDER BY name")]
    return _list(request, "domains", items)


async def list_services(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read("keystone") as conn:
        items = []
        for r in conn.execute("SELECT * FROM service ORDER BY type"):
            extra = json.loads(r["extra"] or "{}")
            items.append({**extra, "id": r["id"], "type": r["type"], "enabled": _enabled(r),
                          "links": {"self": f"{base_url(request)}/v3/services/{r['id']}"}})
    return _list(request, "services", items)


async def list_endpoints(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read("keystone") as conn:
        items = [{"id": r["id"], "interface": r["interface"], "service_id": r["service_id"],
                  "url": r["url"], "region": r["region_id"], "region_id": r["region_id"],
                  "enabled": _enabled(r), "links": {"self": f"{base_url(request)}/v3/endpoints/{r['id']}"}}
                 for r in conn.execute("SELECT * FROM endpoint ORDER BY service_id, interface")]
    return _list(request, "endpoints", items)


def _single(lister: Any, plural: str, singular: str, label: str) -> Any:
    """GET /v3/<plural>/{id} from the listing handler's items."""

    async def handler(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
        listed = json.loads((await lister(ctx, request, {})).text)[plural]
        found = next((i for i in listed if i["id"] == params["id"]), None)
        if found is None:
            raise ApiError(404, f"Could not find {label}: {params['id']}.")
        return json_response({singular: found})

    return handler


async def list_regions(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read("keystone") as conn:
        items = [{"id": r["id"], "description": r["description"], "parent_region_id": r["parent_region_id"],
                  "links": {"self": f"{base_url(request)}/v3/regions/{r['id']}"}}
                 for r in conn.execute("SELECT * FROM region ORDER BY id")]
    return _list(request, "regions", items)


async def role_assignments(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    query = request.query
    names = "include_names" in query and query["include_names"].lower() not in ("0", "false")
    with ctx.read("keystone") as conn:
        out = []
        for a in conn.execute("SELECT * FROM assignment ORDER BY actor_id, target_id"):
            if not a["type"].startswith("User"):
                continue
            if query.get("user.id") not in (None, a["actor_id"]):
                continue
            target = "project" if a["type"].endswith("Project") else "domain"
            if query.get(f"scope.{target}.id") not in (None, a["target_id"]):
                continue
            if any(k in query for k in ("scope.project.id", "scope.domain.id")) and \
                    f"scope.{target}.id" not in query:
                continue
            if query.get("role.id") not in (None, a["role_id"]):
                continue
            item: dict[str, Any] = {"user": {"id": a["actor_id"]}, "role": {"id": a["role_id"]},
                                    "scope": {target: {"id": a["target_id"]}},
                                    "links": {"assignment": f"{base_url(request)}/v3/{target}s/"
                                              f"{a['target_id']}/users/{a['actor_id']}/roles/{a['role_id']}"}}
            if names:
                user = conn.execute('SELECT name, domain_id FROM "user" WHERE id = ?',
                                    (a["actor_id"],)).fetchone()
                role = conn.execute("SELECT name FROM role WHERE id = ?", (a["role_id"],)).fetchone()
                item["user"].update({"name": user["name"] if user else None,
                                     "domain": _domain_by_id(conn, user["domain_id"] if user else "default")})
                item["role"]["name"] = role["name"] if role else None
                if target == "project":
                    project = conn.execute("SELECT name, domain_id FROM project WHERE id = ?",
                                           (a["target_id"],)).fetchone()
                    item["scope"]["project"].update({
                        "name": project["name"] if project else None,
                        "domain": _domain_by_id(conn, project["domain_id"] if project else "default")})
                else:
                    item["scope"]["domain"]["name"] = _domain_by_id(conn, a["target_id"])["name"]
            out.append(item)
    return json_response({"role_assignments": out,
                          "links": {"self": f"{base_url(request)}{request.path_qs}", "previous": None,
                                    "next": None}})


# --------------------------------------------------------------------------- v2.0


def _v2_access(conn: sqlite3.Connection, token_id: str, extra: dict[str, Any]) -> dict[str, Any]:
    user = conn.execute('SELECT * FROM "user" WHERE id = ?', (extra["user_id"],)).fetchone()
    token: dict[str, Any] = {"id": token_id, "expires": extra["expires_at"][:19] + "Z",
                             "issued_at": extra["issued_at"], "audit_ids": extra.get("audit_ids", [])}
    roles: list[dict[str, str]] = []
    service_catalog: list[dict[str, Any]] = []
    if extra.get("project_id"):
        project = conn.execute("SELECT * FROM project WHERE id = ?", (extra["project_id"],)).fetchone()
        token["tenant"] = {"id": project["id"], "name": project["name"],
                           "description": project["description"], "enabled": _enabled(project)}
        roles = roles_on(conn, user["id"], project["id"])
        for entry in catalog(conn, project["id"]):
            by_region: dict[str, dict[str, Any]] = {}
            for ep in entry["endpoints"]:
                slot = by_region.setdefault(ep["region"], {"region": ep["region"], "id": ep["id"]})
                slot[f"{ep['interface']}URL"] = ep["url"]
            service_catalog.append({"type": entry["type"], "name": entry["name"],
                                    "endpoints": list(by_region.values()), "endpoints_links": []})
    return {"access": {"token": token, "serviceCatalog": service_catalog,
                       "user": {"id": user["id"], "name": user["name"], "username": user["name"],
                                "roles": [{"name": r["name"]} for r in roles], "roles_links": []},
                       "metadata": {"is_admin": 0, "roles": [r["id"] for r in roles]}}}


async def v2_tokens(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    body = await read_body(request)
    auth = body.get("auth") or {}
    with ctx.read("keystone") as conn:
        if "passwordCredentials" in auth:
            creds = auth["passwordCredentials"] or {}
            user = _user(conn, {"name": creds.get("username", ""), "domain": {"id": "default"}})
            if user is None or not _enabled(user) or not seed.keystone_password_check(
                    str(creds.get("password", "")), user["password"]):
                raise unauthorized("The request you have made requires authentication.")
            methods, audit = ["password"], []
        elif "token" in auth:
            extra = _load_token(ctx, conn, (auth["token"] or {}).get("id"))
            if extra is None:
                raise unauthorized()
            user = conn.execute('SELECT * FROM "user" WHERE id = ?', (extra["user_id"],)).fetchone()
            methods, audit = ["token"], list(extra.get("audit_ids", []))
        else:
            raise ApiError(400, "Expecting to find passwordCredentials or token in auth.")
        project = None
        if auth.get("tenantId"):
            project = _project(conn, {"id": auth["tenantId"]})
        elif auth.get("tenantName"):
            project = _project(conn, {"name": auth["tenantName"], "domain": {"id": "default"}})
        if (auth.get("tenantId") or auth.get("tenantName")) and (
                project is None or not roles_on(conn, user["id"], project["id"])):
            raise unauthorized("Could not find project or no access to it.")
    token_id, extra = _issue(ctx, user, project, methods, audit)
    with ctx.read("keystone") as conn:
        return json_response(_v2_access(conn, token_id, extra))


async def v2_tenants(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    if ctx.identity is None:
        raise unauthorized()
    with ctx.read("keystone") as conn:
        found = conn.execute(
            "SELECT DISTINCT p.* FROM project p JOIN assignment a ON a.target_id = p.id "
            "WHERE a.actor_id = ? AND a.type = 'UserProject' ORDER BY p.name",
            (ctx.identity.user_id,)).fetchall()
    return json_response({"tenants": [{"id": r["id"], "name": r["name"], "description": r["description"],
                                       "enabled": _enabled(r)} for r in found], "tenants_links": []})


# --------------------------------------------------------------------------- the API


class KeystoneApi(Api):
    service = "keystone"

    def __init__(self) -> None:
        super().__init__()
        r = self.route
        r("GET", "/", versions, public=True)
        r("GET", "/v3", version_v3, public=True)
        r("GET", "/v2.0", version_v2, public=True)
        r("POST", "/v3/auth/tokens", auth_tokens, public=True)
        r("GET", "/v3/auth/tokens", validate_token)
        r("DELETE", "/v3/auth/tokens", revoke_token)
        r("GET", "/v3/auth/catalog", auth_catalog)
        r("GET", "/v3/auth/projects", user_projects)
        r("GET", "/v3/projects", list_projects)
        r("GET", "/v3/projects/{id}", get_project)
        r("GET", "/v3/users", list_users)
        r("GET", "/v3/users/{id}", get_user)
        r("GET", "/v3/users/{id}/projects", user_projects)
        r("GET", "/v3/roles", list_roles)
        r("GET", "/v3/domains", list_domains)
        r("GET", "/v3/services", list_services)
        r("GET", "/v3/endpoints", list_endpoints)
        r("GET", "/v3/regions", list_regions)
        for plural, lister, label in (("roles", list_roles, "role"), ("domains", list_domains, "domain"),
                                      ("services", list_services, "service"),
                                      ("endpoints", list_endpoints, "endpoint"),
                                      ("regions", list_regions, "region")):
            r("GET", f"/v3/{plural}/{{id}}", _single(lister, plural, plural[:-1], label))
        r("GET", "/v3/role_assignments", role_assignments)
        r("POST", "/v2.0/tokens", v2_tokens, public=True)
        r("GET", "/v2.0/tenants", v2_tenants)

    def error_response(self, exc: ApiError) -> web.Response:
        title = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 405: "Method Not Allowed", 409: "Conflict"}.get(exc.status, "Internal Server Error")
        return json_response({"error": {"code": exc.status, "message": exc.message, "title": title}},
                             exc.status, exc.headers)

