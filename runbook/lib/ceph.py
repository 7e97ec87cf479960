"""Ceph (firefly) through the `ceph` admin tool on a node: status, health, quorum, OSDs, flags.

JSON output (`-f json`) is parsed; a `ceph` that reaches no monitor quorum
gives up after `--connect-timeout` and raises a RemoteError saying so.
"""

from __future__ import annotations

import json
from typing import Any

from runbook.errors import RemoteError
from runbook.lib.ssh import SSHPool

CONNECT_TIMEOUT = 10  # seconds `ceph` waits for a monitor before giving up
FIX_QUORUM = "check that a majority of ceph-mon daemons run and ceph.conf names them"


def _ceph(pool: SSHPool, node: str, args: str, *, json_out: bool = True) -> Any:
    command = f"ceph --connect-timeout {CONNECT_TIMEOUT} {args}" + (" -f json" if json_out else "")
    result = pool.run(node, command, timeout=CONNECT_TIMEOUT + 60)
    if not result.ok:
        no_quorum = "connection aborted" in result.stderr.lower() or "timed out" in result.stderr.lower()
        raise RemoteError(node, command, result.status,
                          result.stderr + (f"\nno monitor quorum reachable within {CONNECT_TIMEOUT} s"
                                           if no_quorum else ""),
                          FIX_QUORUM if no_quorum else "read ceph's error and correct the command or cluster")
    if not json_out:
        return result.stdout.strip()
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise RemoteError(node, command, 0, f"unparseable JSON: {result.stdout[:200]!r}",
                          "check the ceph version on the node") from None


def status(pool: SSHPool, node: str) -> dict[str, Any]:
    """`ceph -s`: fsid, health, quorum names, osd counts, pg states and pool/object totals."""
    raw = _ceph(pool, node, "status")
    osdmap = raw["osdmap"]["osdmap"]
    pgmap = raw["pgmap"]
    return {
        "fsid": raw["fsid"],
        "health": raw["health"]["overall_status"],
        "quorum": list(raw["quorum_names"]),
        "osds": {"total": osdmap["num_osds"], "up": osdmap["num_up_osds"], "in": osdmap["num_in_osds"]},
        "pgs": {s["state_name"]: s["count"] for s in pgmap["pgs_by_state"]},
        "num_pgs": pgmap["num_pgs"],
    }


def health(pool: SSHPool, node: str) -> tuple[str, list[str]]:
    """(HEALTH_OK|HEALTH_WARN|HEALTH_ERR, summary lines)."""
    raw = _ceph(pool, node, "health")
    return raw["overall_status"], [s["summary"] for s in raw.get("summary", [])]


def quorum(pool: SSHPool, node: str) -> dict[str, Any]:
    raw = _ceph(pool, node, "quorum_status")
    return {"names": list(raw["quorum_names"]), "leader": raw.get("quorum_leader_name"),
            "fsid": raw["monmap"]["fsid"],
            "mons": {m["name"]: m["addr"].split("/")[0] for m in raw["monmap"]["mons"]}}


def osd_tree(pool: SSHPool, node: str) -> list[dict[str, Any]]:
    """Every OSD: id, host, up, in."""
    raw = _ceph(pool, node, "osd tree")
    host_of = {child: n["name"] for n in raw["nodes"] if n["type"] == "host" for child in n.get("children", [])}
    return [{"id": n["id"], "host": host_of.get(n["id"]), "up": n.get("status") == "up",
             "in": float(n.get("reweight", 0)) > 0}
            for n in sorted(raw["nodes"], key=lambda n: n["id"]) if n["type"] == "osd"]


def flags(pool: SSHPool, node: str) -> list[str]:
    raw = _ceph(pool, node, "osd dump")
    return [f for f in str(raw.get("flags", "")).split(",") if f]


def set_flag(pool: SSHPool, node: str, flag: str) -> None:
    _ceph(pool, node, f"osd set {flag}", json_out=False)


def unset_flag(pool: SSHPool, node: str, flag: str) -> None:
    _ceph(pool, node, f"osd unset {flag}", json_out=False)


def pg_stat(pool: SSHPool, node: str) -> dict[str, Any]:
    """PG count and counts by state (`active+clean`: n)."""
    raw = _ceph(pool, node, "pg stat")
    return {"num_pgs": raw["num_pgs"], "by_state": {s["name"]: s["num"] for s in raw["num_pg_by_state"]}}


def fsid(pool: SSHPool, node: str) -> str:
    return str(_ceph(pool, node, "fsid", json_out=False))
