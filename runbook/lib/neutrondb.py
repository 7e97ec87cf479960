"""Neutron's L3 agents and router bindings, read and written in its database on a controller.

For when neutron's API cannot be reached: an isolated seed holds the same VIPs as
the original, so from the master its API is the original's until the switch-over.
Neutron keeps which L3 agent hosts a router in `routerl3agentbindings` only; an
L3 agent reads its routers from there when it starts (a full sync), so bindings
written while an agent is stopped are what it hosts once started, exactly as if
`neutron l3-agent-router-add` had been called. Every call goes through
`runbook.lib.db` (`mysql` on the node, root's password from its option file).
"""

from __future__ import annotations

import re

from runbook.errors import OctaneError
from runbook.lib import db
from runbook.lib.ssh import SSHPool

DATABASE = "neutron"
L3_AGENT_TYPE = "L3 agent"
_ID = re.compile(r"^[A-Za-z0-9_.:-]+$")  # neutron's ids are UUIDs; hostnames are plain names


def _literal(value: str) -> str:
    """A quoted SQL string of an id or hostname; anything else is refused (never interpolate free text)."""
    if not _ID.match(value):
        raise OctaneError(f"{value!r} is not a plain id or host name", "check the neutron database's contents")
    return f"'{value}'"


def l3_agents(pool: SSHPool, node: str, hosts: list[str]) -> dict[str, str]:
    """{agent id: host} of the L3 agents registered for `hosts` (alive or not: the table says who registered)."""
    if not hosts:
        return {}
    names = ", ".join(_literal(h) for h in hosts)
    rows = db.query(pool, node, f"SELECT id, host FROM {DATABASE}.agents WHERE agent_type = "
                                f"'{L3_AGENT_TYPE}' AND host IN ({names})")
    return {row[0]: row[1] for row in rows if len(row) == 2}


def router_bindings(pool: SSHPool, node: str) -> dict[str, list[str]]:
    """{router id: [L3 agent ids]} of every router, those bound to no agent with an empty list."""
    found: dict[str, list[str]] = {row[0]: [] for row in db.query(pool, node, f"SELECT id FROM {DATABASE}.routers")}
    for row in db.query(pool, node, f"SELECT router_id, l3_agent_id FROM {DATABASE}.routerl3agentbindings"):
        if len(row) == 2:
            found.setdefault(row[0], []).append(row[1])
    return {router: sorted(agents) for router, agents in sorted(found.items())}


def rebind(pool: SSHPool, node: str, moves: dict[str, str]) -> None:
    """Bind each router of `moves` ({router id: agent id}) to that agent only, in one transaction."""
    if not moves:
        return
    routers = ", ".join(_literal(r) for r in sorted(moves))
    values = ", ".join(f"({_literal(r)}, {_literal(a)})" for r, a in sorted(moves.items()))
    db.query(pool, node, "START TRANSACTION; "
                         f"DELETE FROM {DATABASE}.routerl3agentbindings WHERE router_id IN ({routers}); "
                         f"INSERT INTO {DATABASE}.routerl3agentbindings (router_id, l3_agent_id) VALUES {values}; "
                         "COMMIT")
