"""What every OpenStack API of the lab shares: errors, routing, the request context, formats.

Each API is one aiohttp application with a single catch-all route; its
`Api` object strips the version prefix (and the project id some catalogs put
in the URL), matches the rest against its own small route table and renders
errors the way that service does, so openstacksdk and the `openstack` client
parse them as they would upstream.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from fuellab.openstack import backend

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Cluster, Node, World

Handler = Callable[["Ctx", web.Request, dict[str, str]], Awaitable[web.StreamResponse]]

PROJECT_RE = r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class ApiError(Exception):
    """An error answer; `kind` names it in the service's own vocabulary (itemNotFound...)."""

    def __init__(self, status: int, message: str, kind: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.headers = headers or {}


def not_found(message: str, kind: str | None = None) -> ApiError:
    return ApiError(404, message, kind)


def bad_request(message: str, kind: str | None = None) -> ApiError:
    return ApiError(400, message, kind)


# --------------------------------------------------------------------------- formats


def iso(value: Any, micro: bool = False, zulu: bool = True) -> str | None:
    """A DB DATETIME ('2015-11-02 08:00:00[.ffffff]') as the APIs print it."""
    if value is None or value == "":
        return None
    text = str(value).replace(" ", "T")
    if "." in text:
        base, frac = text.split(".", 1)
        frac = frac.rstrip("Z")
    else:
        base, frac = text.rstrip("Z"), ""
    if micro:
        base = f"{base}.{(frac + '000000')[:6]}"
    return base + ("Z" if zulu else "")


def utcnow() -> datetime:
    return datetime.now(UTC)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json",
                        headers=headers)


def empty(status: int = 204, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers)


def base_url(request: web.Request) -> str:
    """The scheme and authority the client used: version documents name the lab's own address."""
    host = request.headers.get("Host") or f"{request.url.host}:{request.url.port}"
    return f"http://{host}"


async def read_body(request: web.Request) -> dict[str, Any]:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise bad_request(f"Malformed request body: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request("Malformed request body: expected a JSON object")
    return data


def truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "t", "yes", "y", "on")


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(r[1] == column for r in conn.execute(f'PRAGMA table_info("{table}")'))


def has_table(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() \
        is not None


def insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> int:
    """Insert the values of the columns the table has (Juno and Kilo schemas differ)."""
    have = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
    data = {k: v for k, v in row.items() if k in have}
    names = ", ".join(f'"{k}"' for k in data)
    marks = ", ".join("?" for _ in data)
    cur = conn.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', tuple(data.values()))
    return int(cur.lastrowid or 0)


# --------------------------------------------------------------------------- identity of a request


@dataclass(frozen=True)
class Identity:
    """Who sent the request, from a validated token."""

    token: str
    user_id: str
    user_name: str
    project_id: str | None
    project_name: str | None
    roles: tuple[str, ...]
    domain_id: str = "default"

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


# --------------------------------------------------------------------------- the request context


@dataclass
class Ctx:
    """A request being served by `service` on `node`, whose data is `binding`'s database."""

    lab: Lab
    node: Node
    service: str
    binding: backend.Binding
    identity: Identity | None = None
    project_in_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def world(self) -> World:
        return self.lab.world

    @property
    def cluster(self) -> Cluster:
        return self.lab.world.clusters[self.binding.cluster_id]

    @contextmanager
    def read(self, database: str | None = None) -> Iterator[sqlite3.Connection]:
        with backend.read(self.lab, self.binding, database) as conn:
            yield conn

    @contextmanager
    def write(self, count: int = 1, database: str | None = None) -> Iterator[sqlite3.Connection]:
        with backend.write(self.lab, self.binding, count, database) as conn:
            yield conn

    def now(self) -> str:
        from fuellab.galera import lab_datetime

        return lab_datetime(self.world)

    def require_admin(self) -> None:
        if self.identity is None or not self.identity.is_admin:
            raise ApiError(403, "Policy doesn't allow this operation to be performed.", "forbidden")

    @property
    def project_id(self) -> str | None:
        return self.identity.project_id if self.identity else None


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    public: bool


class Api:
    """One service's API: its prefix rule, route table and error format."""

    service = ""
    default_ports: tuple[int, ...] = ()
    # Paths (local to the prefix, before routing) that need no token: version documents.
    public_prefixes: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, pattern: str, handler: Handler, public: bool = False) -> None:
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/")) + "/?$"
        self.routes.append(Route(method, re.compile(regex), handler, public))

    def split(self, path: str) -> tuple[str | None, str | None, str]:
        """(version, project id, the rest) of a request path; version None: unversioned."""
        return None, None, path

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        look = "GET" if method == "HEAD" else method
        for route in self.routes:
            found = route.regex.match(path)
            if found is None:
                continue
            if route.method == look:
                return route, found.groupdict()
            allowed = True
        if allowed:
            raise ApiError(405, f"The method {method} is not allowed for this resource.")
        raise ApiError(404, "The resource could not be found.", "itemNotFound")

    # ------------------------------------------------------------------ errors

    def error_response(self, exc: ApiError) -> web.Response:
        """Nova's and cinder's shape by default: {"itemNotFound": {"message", "code"}}."""
        kind = exc.kind or _fault_name(exc.status)
        return json_response({kind: {"message": exc.message, "code": exc.status}}, exc.status,
                             exc.headers)

    def unauthorized(self, request: web.Request) -> ApiError:
        return ApiError(401, "The request you have made requires authentication.", "error", {
            "WWW-Authenticate": f"Keystone uri='http://{request.url.host}:5000/v2.0'"})

    def unauthorized_response(self, exc: ApiError) -> web.Response:
        body = {"error": {"message": exc.message, "code": 401, "title": "Unauthorized"}}
        return json_response(body, 401, exc.headers)


def _fault_name(status: int) -> str:
    return {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
            405: "badMethod", 409: "conflictingRequest", 413: "overLimit",
            501: "notImplemented", 503: "serviceUnavailable"}.get(status, "computeFault")


def page_of(items: Sequence[Any], request: web.Request, key: str = "id",
            default_limit: int | None = None, max_limit: int = 1000,
            marker_error: Callable[[str], ApiError] | None = None) -> tuple[list[Any], int, bool]:
    """Apply `marker` then `limit` as the services do: (page, limit applied, more follow).

    `items` are dicts or sqlite3 rows; `marker_error` builds the service's own answer to an
    unknown marker (nova: 400, cinder: 404).
    """
    marker = request.query.get("marker")
    if marker:
        index = next((i for i, item in enumerate(items) if str(item[key]) == marker), None)
        if index is None:
            raise (marker_error or (lambda m: bad_request(f"marker [{m}] not found")))(marker)
        items = items[index + 1:]
    limit_text = request.query.get("limit")
    limit = default_limit
    if limit_text is not None:
        try:
            limit = int(limit_text)
        except ValueError:
            raise bad_request("limit param must be an integer") from None
        if limit < 0:
            raise bad_request("limit param must be positive")
    if limit is None:
        limit = max_limit
    limit = min(limit, max_limit)
    return list(items[:limit]), limit, len(items) > limit


def paginate(items: list[dict[str, Any]], request: web.Request, key: str = "id",
             default_limit: int | None = None, max_limit: int = 1000) -> tuple[list[dict[str, Any]], bool]:
    """Apply `marker` and `limit`; returns the page and whether more items follow."""
    page, _limit, more = page_of(items, request, key, default_limit, max_limit)
    return page, more


def next_links(request: web.Request, url: str, limit: int, marker: str) -> list[dict[str, str]]:
    """The `<collection>_links` entry pointing at the next page (the query kept, marker moved)."""
    query = {k: v for k, v in request.query.items() if k not in ("marker", "limit")}
    query.update({"limit": str(limit), "marker": marker})
    return [{"rel": "next", "href": f"{url}?{urlencode(query)}"}]
