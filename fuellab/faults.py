"""Injected failures: what `fuellab fault add` sets and the lab's services consult.

A fault names a node (hostname, `master` for the Fuel master, or `*`), an
operation (a glob) and a kind. Where the lab performs an operation it asks
`Faults.take(node, op, kind)`; a matching fault is consumed once per hit and
disappears when its `times` run out.

Operation names by kind:

| kind | node | op | effect |
|---|---|---|---|
| ssh-drop | hostname | `ssh` | the node's SSH server drops connections (new and open ones) |
| fail | hostname | command name (`mysqldump`), or a glob of its line (`ceph-mon *--inject-monmap*`) | the command exits 1 with the message |
| hang | hostname / `master` | command name or line glob / `METHOD /api/v1/path` | no answer until the client gives up |
| api-5xx | `master` / the serving controller | `METHOD /path` | HTTP 500 with the message |
| task-error | `master` | task name (`provision`, `deployment`) | the task ends in error |
| provision-fail | hostname | `provision` | provisioning of that node fails (node error) |
"""

from __future__ import annotations

import fnmatch

from fuellab.world import Fault, World

KINDS = ("ssh-drop", "fail", "hang", "api-5xx", "task-error", "provision-fail")


class FaultError(ValueError):
    """A fault definition that cannot take effect."""


class Faults:
    def __init__(self, world: World) -> None:
        self.world = world

    def add(self, node: str, op: str, kind: str, times: int | None = None, message: str = "") -> Fault:
        if kind not in KINDS:
            raise FaultError(f"unknown fault kind {kind!r}; use one of: {', '.join(KINDS)}")
        if times is not None and times < 1:
            raise FaultError("--times must be at least 1 (omit it for a fault that stays)")
        if node not in ("master", "*") and not any(
            fnmatch.fnmatchcase(n.hostname, node) for n in self.world.nodes.values()
        ):
            raise FaultError(f"no node matches {node!r}; see `fuellab status` for node names")
        fault = Fault(self.world.next_id("fault"), node, op, kind, times, message or f"injected {kind}")
        self.world.faults[fault.id] = fault
        self.world.changed()
        return fault

    def clear(self, fault_id: int | None = None) -> int:
        ids = [fault_id] if fault_id is not None else list(self.world.faults)
        removed = 0
        for i in ids:
            if self.world.faults.pop(i, None) is not None:
                removed += 1
        if removed:
            self.world.changed()
        return removed

    def list(self) -> list[Fault]:
        return sorted(self.world.faults.values(), key=lambda f: f.id)

    def peek(self, node: str, op: str, kind: str) -> Fault | None:
        for fault in self.list():
            if fault.kind != kind:
                continue
            if fault.node != "*" and not fnmatch.fnmatchcase(node, fault.node):
                continue
            if fnmatch.fnmatchcase(op, fault.op):
                return fault
        return None

    def take(self, node: str, op: str, kind: str) -> Fault | None:
        """The matching fault, consumed once; None when nothing is injected there."""
        fault = self.peek(node, op, kind)
        if fault is None:
            return None
        fault.hits += 1
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self.world.faults[fault.id]
        self.world.changed()
        return fault
