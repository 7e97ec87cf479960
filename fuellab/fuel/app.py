"""The Fuel master's HTTP API: Nailgun's /api/v1 subset and keystone v2.0, on the admin address.

Middlewares, outermost first:
- errors: every failure answers JSON `{"message", "errors"}` (fuelclient calls `.json()`);
- faults: `api-5xx` / `hang` injected on node `master` for op `METHOD /path`
  (matched as a glob against the path as requested and without its trailing
  slash: fuelclient asks for `clusters/1/extensions/`, an operator names
  `/api/v1/clusters/1/extensions`), see fuellab.faults;
- auth: everything under /api except the version needs a keystone token.

Routes are served with and without a trailing slash, as Nailgun's are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from fuellab.fuel import keystone, upgrade
from fuellab.fuel.errors import ApiError, error_response
from fuellab.fuel.handlers import clusters, deployment, extensions, nodes, releases, tasks

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Fault

log = logging.getLogger("fuellab.fuel")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PUBLIC_PATHS = ("/api/v1/version", "/api/version")
HANG_LIMIT = 600.0  # wall seconds a hung request may hold its coroutine
MAX_BODY = 64 * 1024 * 1024  # deployment info of a large env is big


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, exc.errors)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        text = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return error_response(exc.status, f"{text}: {request.method} {request.path}")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a lab bug answers 500 JSON, like Nailgun's own failures
        log.exception("Fuel API %s %s failed", request.method, request.path)
        return error_response(500, f"internal error of the lab: {exc.__class__.__name__}: {exc}")


@web.middleware
async def faults_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    lab: Lab = request.app["lab"]
    op = f"{request.method} {request.path}"
    ops = (op, op.rstrip("/")) if op.endswith("/") and not op.endswith(" /") else (op,)
    if _take(lab, ops, "hang") is not None:
        await _hang(request)
        raise ApiError(504, f"injected hang on {op}")
    fault = _take(lab, ops, "api-5xx")
    if fault is not None:
        raise ApiError(500, fault.message)
    return await handler(request)


def _take(lab: Lab, ops: tuple[str, ...], kind: str) -> Fault | None:
    """The first fault matching one of the spellings of the op (consumed once, not per spelling)."""
    for op in ops:
        fault = lab.faults.take("master", op, kind)
        if fault is not None:
            return fault
    return None


async def _hang(request: web.Request) -> None:
    """Answer nothing until the client gives up (or the lab stops)."""
    closing: asyncio.Event = request.app["closing"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_LIMIT
    while loop.time() < deadline and not closing.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.05)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path.rstrip("/")
    if path.startswith("/api/") and path not in PUBLIC_PATHS:
        store: keystone.TokenStore = request.app["tokens"]
        if not store.valid(request.headers.get("X-Auth-Token")):
            raise ApiError(401, "Authentication required: send a valid X-Auth-Token "
                                "(POST /keystone/v2.0/tokens)")
    return await handler(request)


def add_routes(app: web.Application, routes: list[tuple[str, str, Handler]]) -> None:
    for method, path, handler in routes:
        bare = path.rstrip("/")
        app.router.add_route(method, bare, handler)
        app.router.add_route(method, bare + "/", handler)


def make_app(lab: Lab) -> web.Application:
    app = web.Application(middlewares=[errors_middleware, faults_middleware, auth_middleware],
                          client_max_size=MAX_BODY)
    app["lab"] = lab
    app["tokens"] = keystone.TokenStore(lab)
    app["closing"] = asyncio.Event()

    async def on_shutdown(app: web.Application) -> None:
        app["closing"].set()

    app.on_shutdown.append(on_shutdown)
    for module in (keystone, releases, tasks, nodes, clusters, extensions, deployment, upgrade):
        add_routes(app, module.ROUTES)
    return app
