"""The OpenStack API listeners of the datacenter and how a request finds its way.

One listener per (address, API port) for every VIP of every env (public and
management) and every controller's management address; an address claimed by
several envs (the seed has the original's VIPs and controller addresses) shares
the listener. A watcher adds listeners when new addresses appear (clone, vips,
deploy), checking only when the world changed.

A request is routed as the datacenter would carry it:

1. The holders of the dialled address that the wire reaches
   (`lab.addresses.live_holders`): none -> the connection is closed without an
   answer (a client sees a connection error); several (an IP conflict) -> the
   answers flap between them, round robin.
2. A VIP held by a node: that node's HAProxy must run, with the configuration it
   loaded at its last start (fuellab.openstack.haproxy) and a frontend bound to
   the address and port, else the connection is refused (closed). HAProxy may
   answer by itself (deny rules, maintenance backend, no server up: 503);
   otherwise it forwards to an up server: a node holding the server's address on
   the HAProxy node's segment and running the API's job.
3. A controller's own address: the API on that node, if its job runs.
4. The API on the chosen node serves only if it reaches its database and the
   schema matches its release (fuellab.openstack.backend); else 500.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from fuellab import configs, network
from fuellab.openstack import backend, haproxy
from fuellab.openstack.common import Api, ApiError, Ctx

if TYPE_CHECKING:
    from fuellab.daemon import Daemon
    from fuellab.lab import Lab
    from fuellab.world import Node

log = logging.getLogger("fuellab.openstack")

WATCH_INTERVAL = 0.1  # wall seconds between checks of the world version
HANG_LIMIT = 600.0  # wall seconds a `hang` fault may hold a request

# The API ports the lab serves, and which service answers on each (configs.API_PORTS names them).
SERVICE_PORTS: dict[int, str] = {
    configs.API_PORTS["keystone-1"]: "keystone",
    configs.API_PORTS["keystone-2"]: "keystone",
    configs.API_PORTS["nova-api-2"]: "nova",
    configs.API_PORTS["cinder-api"]: "cinder",
    configs.API_PORTS["neutron"]: "neutron",
    configs.API_PORTS["glance-api"]: "glance",
    configs.API_PORTS["heat-api"]: "heat",
}


# --------------------------------------------------------------------------- routing decisions


@dataclass(frozen=True)
class Drop:
    """Nobody answers: close the connection without a word."""

    why: str


@dataclass(frozen=True)
class Answer:
    """HAProxy answers by itself."""

    status: int


@dataclass(frozen=True)
class Serve:
    """The API on this node handles the request."""

    node_id: int


Decision = Drop | Answer | Serve


class Router:
    """Where a request to (address, port) goes right now."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._turns: dict[Any, itertools.count[int]] = defaultdict(itertools.count)

    def _turn(self, key: Any, count: int) -> int:
        return next(self._turns[key]) % count

    def decide(self, address: str, port: int, method: str, path: str, url: str) -> Decision:
        lab = self.lab
        world = lab.world
        service = SERVICE_PORTS.get(port)
        if service is None:
            return Drop(f"no API on port {port}")
        holders = lab.addresses.live_holders(address)
        if not holders:
            return Drop(f"nobody holds {address}")
        # Two live holders: ARP answers alternate, so do the answers.
        by_node = sorted({h.node_id: h for h in holders}.values(), key=lambda h: h.node_id)
        holder = by_node[self._turn(("addr", address), len(by_node))] if len(by_node) > 1 else by_node[0]
        node = world.nodes[holder.node_id]
        if holder.vip is None:
            if not backend.api_running(lab, node, service):
                return Drop(f"{service} API does not run on {node.hostname}")
            return Serve(node.id)
        config = haproxy.running(lab, node)
        if config is None:
            return Drop(f"haproxy does not run on {node.hostname}")
        frontend = config.frontend_for(address, port)
        if frontend is None:
            return Drop(f"haproxy on {node.hostname} does not bind {address}:{port}")
        decision = haproxy.decide(config, frontend, method, path, url)
        if isinstance(decision, haproxy.Deny):
            return Answer(decision.status)
        up = [n for s in decision.servers if (n := self._server_node(node, s, port)) is not None]
        if not up:
            return Answer(503)
        chosen = up[self._turn(("backend", node.id, decision.backend), len(up))]
        return Serve(chosen.id)

    def _server_node(self, proxy_node: Node, server: haproxy.Server, port: int) -> Node | None:
        """The node behind a `server` line, if HAProxy's check finds it up."""
        lab = self.lab
        world = lab.world
        service = SERVICE_PORTS.get(server.port or port)
        if service is None:
            return None
        seg = self._segment_of(proxy_node, server.host)
        if seg is None:
            return None
        holders = [h for h in lab.addresses.holders().get(server.host, [])
                   if h.segment == seg and h.vip is None]
        if not holders:
            return None
        by_node = sorted({h.node_id for h in holders})
        node = world.nodes[by_node[self._turn(("server", server.host), len(by_node))]]
        return node if backend.api_running(lab, node, service) else None

    def _segment_of(self, node: Node, address: str) -> network.Vertex | None:
        """The segment the node reaches `address` on: that of its own address on the same network."""
        lab = self.lab
        world = lab.world
        for net in world.networks.values():
            if network._in_cidr(address, net.cidr):
                mine = node.ips.get(net.name)
                if mine is None:
                    return None
                for h in lab.addresses.holders().get(mine, []):
                    if h.node_id == node.id and h.vip is None:
                        return h.segment
                return None
        return None


# --------------------------------------------------------------------------- the listeners


def wanted_addresses(lab: Lab) -> set[str]:
    """Every VIP of every env and every controller's management address."""
    world = lab.world
    out = {a for c in world.clusters.values() for a in c.vips.values() if a}
    for node in world.nodes.values():
        if "controller" in node.roles or "controller" in node.pending_roles:
            address = node.ips.get("management")
            if address:
                out.add(address)
    return out


class Gateway:
    """The listeners of every API and the watcher that adds new addresses."""

    def __init__(self, lab: Lab, apis: dict[str, Api]) -> None:
        self.lab = lab
        self.apis = apis
        self.router = Router(lab)
        self.runners: dict[str, web.AppRunner] = {}
        self.sites: dict[tuple[str, int], web.TCPSite] = {}
        self.failed: dict[tuple[str, int], str] = {}
        self._seen_version = -1
        self._clouds: tuple[Any, ...] = ()
        self.closing = asyncio.Event()

    async def setup(self) -> None:
        for service, api in self.apis.items():
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app["gateway"] = self
            app["api"] = api
            app.router.add_route("*", "/{tail:.*}", dispatch)
            app.on_shutdown.append(self._closing)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            self.runners[service] = runner

    async def _closing(self, app: web.Application) -> None:
        self.closing.set()  # a request held by a `hang` fault lets go when the lab stops

    async def sync(self) -> None:
        """Start a listener for every wanted (address, port) that has none yet."""
        self._seen_version = self.lab.world.version
        for address in sorted(wanted_addresses(self.lab)):
            for port, service in SERVICE_PORTS.items():
                key = (address, port)
                if key in self.sites or key in self.failed:
                    continue
                site = web.TCPSite(self.runners[service], address, port, reuse_address=True)
                try:
                    await site.start()
                except OSError as exc:
                    self.failed[key] = str(exc)
                    log.warning("cannot listen on %s:%d for %s: %s", address, port, service, exc)
                    continue
                self.sites[key] = site

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if self.lab.world.version != self._seen_version:
                try:
                    await self.sync()
                    haproxy.refresh(self.lab)
                    self.refresh_clouds()
                except Exception:  # the watcher must outlive a bad world state
                    log.exception("API gateway watcher failed")

    def refresh_clouds(self) -> None:
        """Rewrite clouds.yaml when an env, its public VIP or its admin account changes (a seed appears)."""
        from fuellab import clientfiles

        signature = tuple(sorted(
            (c.id, c.vips.get("public"), tuple(sorted(c.generated.get("access", {}).items())))
            for c in self.lab.world.clusters.values()))
        if signature != self._clouds:
            self._clouds = signature
            clientfiles.write_clouds(self.lab)

    async def stop(self) -> None:
        self.closing.set()
        for runner in self.runners.values():
            await runner.cleanup()
        self.runners.clear()
        self.sites.clear()


async def start(daemon: Daemon) -> Gateway:
    """Start (or, after a restore, resume) the gateway of the lab process."""
    from fuellab.openstack import apis

    lab = daemon.lab
    gateway: Gateway | None = getattr(lab, "gateway", None)
    if gateway is None or not gateway.runners:
        gateway = Gateway(lab, apis.build())
        await gateway.setup()
        lab.gateway = gateway  # type: ignore[attr-defined]
        daemon.runners.extend(gateway.runners.values())
    gateway._seen_version = -1
    # A restore rewrote clouds.yaml from the restored world: forget which envs were written before,
    # or a seed cloned again with the same VIP and admin would never get its entry back.
    gateway._clouds = ()
    await gateway.sync()
    haproxy.refresh(lab)  # HAProxies running now have read their files (a restore: as of the snapshot)
    lab.spawn(gateway.watch(), "openstack-gateway-watch")
    return gateway


# --------------------------------------------------------------------------- serving a request


class _Dropped(web.HTTPException):
    status_code = 503


def _drop(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise _Dropped()


async def dispatch(request: web.Request) -> web.StreamResponse:
    gateway: Gateway = request.app["gateway"]
    api: Api = request.app["api"]
    lab = gateway.lab
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    if not sock:
        return _drop(request)
    address, port = sock[0], sock[1]
    decision = gateway.router.decide(address, port, request.method, request.path, request.path_qs)
    if isinstance(decision, Drop):
        return _drop(request)
    if isinstance(decision, Answer):
        return web.Response(status=decision.status, text=haproxy.error_page(decision.status),
                            content_type="text/html", headers={"Cache-Control": "no-cache"})
    node = lab.world.nodes[decision.node_id]
    try:
        binding = backend.bind(lab, node, api.service)
    except backend.ServiceDown as exc:
        log.debug("%s on %s cannot serve: %s", api.service, node.hostname, exc)
        return api.error_response(ApiError(500, f"{api.service} on {node.hostname} cannot serve: {exc}"))
    op = f"{request.method} {request.path}"
    if lab.faults.take(node.hostname, op, "hang") is not None:
        await _hang(gateway, request)
        return _drop(request)
    fault = lab.faults.take(node.hostname, op, "api-5xx")
    if fault is not None:
        return api.error_response(ApiError(500, fault.message))
    ctx = Ctx(lab, node, api.service, binding)
    try:
        version, project, rest = api.split(request.path)
        ctx.extra["version"] = version
        ctx.project_in_url = project
        route, params = api.match(request.method, rest)
        if not route.public:
            from fuellab.openstack import keystone

            ctx.identity = keystone.identify(ctx, request.headers.get("X-Auth-Token"))
            if ctx.identity is None:
                return api.unauthorized_response(api.unauthorized(request))
        response = await route.handler(ctx, request, params)
    except ApiError as exc:
        return api.error_response(exc)
    except web.HTTPException as exc:
        if exc.status >= 400:
            raise
        return exc  # a redirect (heat's stack lookup)
    except backend.ServiceDown as exc:
        return api.error_response(ApiError(500, str(exc)))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a lab bug answers 500 in the service's format, and is logged
        log.exception("%s %s %s failed", api.service, request.method, request.path)
        return api.error_response(ApiError(500, f"internal error of the lab: {exc.__class__.__name__}: {exc}"))
    return response


async def _hang(gateway: Gateway, request: web.Request) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_LIMIT
    while loop.time() < deadline and not gateway.closing.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.05)
