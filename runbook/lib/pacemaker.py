"""Pacemaker on a controller: cluster status from `crm_mon --as-xml`, resource and cluster control."""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from typing import Any

from runbook.errors import RemoteError
from runbook.lib.ssh import SSHPool

TIMEOUT = 120.0
FIX_CLUSTER = "check corosync and pacemaker on the node (pcs status), then re-run"


def status(pool: SSHPool, node: str) -> dict[str, Any]:
    """{"nodes": {name: online}, "resources": {id: [{"node", "role"}...]}, "quorum": bool,
    "clones": {primitive id: clone or master/slave set id}}.

    A clone or master/slave set is reported under its primitive's id, one entry per instance
    that runs; a resource that runs nowhere has an empty list. `clones` names the set a
    primitive belongs to: the id to stop or start it by."""
    command = "crm_mon --as-xml"
    out = pool.check(node, command, timeout=TIMEOUT, fix=FIX_CLUSTER).stdout
    try:
        root = ET.fromstring(out)
    except ET.ParseError as exc:
        raise RemoteError(node, command, 0, f"unparseable XML: {exc}", FIX_CLUSTER) from None
    dc = root.find("summary/current_dc")
    nodes = {n.get("name", ""): n.get("online") == "true" for n in root.iterfind("nodes/node")}
    resources: dict[str, list[dict[str, str]]] = {}
    for res in root.iter("resource"):
        placed = resources.setdefault(res.get("id", ""), [])
        if res.get("active") == "true":
            placed += [{"node": n.get("name", ""), "role": res.get("role", "")} for n in res.iterfind("node")]
    clones = {res.get("id", ""): clone.get("id", "") for clone in root.iter("clone") for res in clone.iter("resource")}
    return {"nodes": nodes, "resources": resources, "clones": clones,
            "quorum": dc is not None and dc.get("with_quorum") == "true"}


def _crm(pool: SSHPool, node: str, verb: str, name: str) -> None:
    pool.check(node, f"crm resource {verb} {shlex.quote(name)}", timeout=TIMEOUT,
               fix=f"check the resource with `crm resource status {name}` and the cluster on {node}")


def resource_stop(pool: SSHPool, node: str, name: str) -> None:
    _crm(pool, node, "stop", name)


def resource_start(pool: SSHPool, node: str, name: str) -> None:
    _crm(pool, node, "start", name)


def resource_restart(pool: SSHPool, node: str, name: str) -> None:
    _crm(pool, node, "restart", name)


def cluster_kill(pool: SSHPool, node: str) -> None:
    """`pcs cluster kill`: stop this node's corosync/pacemaker at once, resources left as they die."""
    pool.check(node, "pcs cluster kill", timeout=TIMEOUT, fix=FIX_CLUSTER)


def cluster_stop(pool: SSHPool, node: str, *, all_nodes: bool = False) -> None:
    pool.check(node, "pcs cluster stop" + (" --all" if all_nodes else ""), timeout=TIMEOUT, fix=FIX_CLUSTER)


def cluster_start(pool: SSHPool, node: str, *, all_nodes: bool = False) -> None:
    pool.check(node, "pcs cluster start" + (" --all" if all_nodes else ""), timeout=TIMEOUT, fix=FIX_CLUSTER)
