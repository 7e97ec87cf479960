"""Is a guest reachable on its floating IP? Derived from the world, the wiring and Neutron's DB.

A guest answers on its floating IP while every hop of the path works:

- its qemu runs on the compute (fuellab.dataplane.domains), not paused;
- the compute's OVS agent (`neutron-plugin-openvswitch-agent`) runs;
- the env managing the compute (whose RabbitMQ its nova.conf reaches,
  fuellab.dataplane.plane) has, in its Neutron DB, a floating IP on the
  guest's port and a router for it bound to an L3 agent
  (`routerl3agentbindings` -> `agents.host`);
- that L3 agent's host is a controller of the same env, online, running
  `neutron-l3-agent`, plugged: its br-ex on the public wire and its br-mgmt on
  the management wire (fuellab.network segments);
- the tenant VLAN joins them: the compute's and the controller's br-prv sit in
  one segment (`ip link set eth3 down` on either breaks it).

Neutron rows are read straight from the env's database file (what the
agents were told by neutron-server), cached by the file's signature.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fuellab import galera, services
from fuellab.dataplane import domains, plane
from fuellab.network import segments, wire

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Node, World

OVS_AGENT = "neutron-plugin-openvswitch-agent"
L3_AGENT = "neutron-l3-agent"
PRIVATE_BRIDGE = "br-prv"


@dataclass
class NeutronView:
    """The part of one env's Neutron DB the data plane needs."""

    floating: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # vm -> (fip, router)
    router_hosts: dict[str, list[str]] = field(default_factory=dict)  # router -> L3 agent hosts


_views: dict[tuple[str, int], tuple[tuple[int, int, int], NeutronView]] = {}


def neutron_view(world: World, cluster_id: int) -> NeutronView:
    try:
        path = galera.db_path(world, cluster_id, "neutron")
        st = path.stat()
    except (OSError, galera.GaleraError):
        return NeutronView()
    sig = (st.st_ino, st.st_mtime_ns, st.st_size)
    key = (str(world.dir), cluster_id)
    hit = _views.get(key)
    if hit is not None and hit[0] == sig:
        return hit[1]
    view = NeutronView()
    try:
        conn = galera.connect(world, cluster_id, "neutron")
    except galera.GaleraError:
        return view
    try:
        for device, fip, router in conn.execute(
            "SELECT p.device_id, f.floating_ip_address, f.router_id FROM floatingips f "
            "JOIN ports p ON p.id = f.fixed_port_id WHERE p.device_owner LIKE 'compute:%'"
        ):
            view.floating[device] = (fip, router)
        for router, host in conn.execute(
            "SELECT b.router_id, a.host FROM routerl3agentbindings b "
            "JOIN agents a ON a.id = b.l3_agent_id"
        ):
            view.router_hosts.setdefault(router, []).append(host)
    except sqlite3.Error:
        view = NeutronView()  # a schema being rebuilt (restore, db sync): nothing programmed
    finally:
        conn.close()
    _views[key] = (sig, view)
    return view


@dataclass
class Reach:
    """One guest's verdict: where it runs and, if reachable, on which address."""

    uuid: str
    node: str
    fip: str | None
    reason: str | None  # None: reachable


class Evaluator:
    """Reachability of every guest at one instant (one pass over the world)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.world = lab.world
        self.uf = segments(self.world)
        self.public = self.uf.find(wire(self.world.networks["public"].nic))
        self.mgmt = self.uf.find(wire(self.world.networks["management"].nic))
        self._l3_ok: dict[tuple[str, int, object], str | None] = {}
        self._node: dict[int, tuple[str | None, object | None, list[int]]] = {}
        self._views: dict[int, NeutronView] = {}

    def view(self, env: int) -> NeutronView:
        if env not in self._views:
            self._views[env] = neutron_view(self.world, env)
        return self._views[env]

    def segment(self, node: Node, bridge: str) -> object | None:
        if not node.online or bridge not in node.ovs:
            return None
        return self.uf.find((node.id, bridge))

    def _router_host_problem(self, hostname: str, env: int, prv: object) -> str | None:
        key = (hostname, env, prv)
        if key in self._l3_ok:
            return self._l3_ok[key]
        world = self.world
        node = world.node_by_hostname(hostname)
        problem: str | None = None
        if node is None or node.cluster != env or "controller" not in node.roles:
            problem = f"L3 agent host {hostname} is not a controller of env {env}"
        elif not node.online:
            problem = f"L3 agent host {hostname} is down"
        elif not services.is_running(world, node, L3_AGENT):
            problem = f"{L3_AGENT} does not run on {hostname}"
        elif self.segment(node, world.networks["public"].bridge) != self.public:
            problem = f"{hostname} is not plugged on the public wire"
        elif self.segment(node, world.networks["management"].bridge) != self.mgmt:
            problem = f"{hostname} is not plugged on the management wire"
        elif self.segment(node, PRIVATE_BRIDGE) != prv:
            problem = f"{hostname} does not share the tenant VLAN segment with the compute"
        self._l3_ok[key] = problem
        return problem

    def _compute(self, node: Node) -> tuple[str | None, object | None, list[int]]:
        """Per compute (once per pass): a problem of the host itself, its br-prv segment, its envs."""
        hit = self._node.get(node.id)
        if hit is None:
            problem: str | None = None
            prv = self.segment(node, PRIVATE_BRIDGE)
            envs: list[int] = []
            if not node.online:
                problem = "the compute is down"
            elif not services.is_running(self.world, node, OVS_AGENT):
                problem = f"{OVS_AGENT} does not run on the compute"
            elif prv is None:
                problem = "the compute has no br-prv"
            else:
                envs = plane.managing_planes(self.lab, node)
                if not envs:
                    problem = "the compute reaches no control plane"
            hit = (problem, prv, envs)
            self._node[node.id] = hit
        return hit

    def evaluate(self, node: Node, name: str, dom: dict[str, object]) -> Reach:
        uuid = str(dom.get("uuid", ""))
        if dom.get("state") != domains.RUNNING:
            return Reach(uuid, node.hostname, None, f"the guest is {dom.get('state')}")
        problem, prv, envs = self._compute(node)
        if problem is not None:
            return Reach(uuid, node.hostname, None, problem)
        problems: list[str] = []
        fip: str | None = None
        for env in envs:
            view = self.view(env)
            found = view.floating.get(uuid)
            if found is None:
                problems.append(f"no floating IP for the guest in env {env}")
                continue
            fip, router = found
            hosts = view.router_hosts.get(router or "", [])
            if not hosts:
                problems.append(f"router {router} is not hosted by any L3 agent in env {env}")
                continue
            for host in hosts:
                problem = self._router_host_problem(host, env, prv)
                if problem is None:
                    return Reach(uuid, node.hostname, fip, None)
                problems.append(problem)
        return Reach(uuid, node.hostname, fip, "; ".join(problems))

    def all(self) -> dict[str, Reach]:
        """Every guest with a qemu process, by uuid."""
        out: dict[str, Reach] = {}
        for node in self.world.nodes.values():
            for name, dom in domains.running(node).items():
                verdict = self.evaluate(node, name, dom)
                out[verdict.uuid] = verdict
        return out
