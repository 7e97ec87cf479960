"""Upstart jobs on a node (Ubuntu 14.04): which run, stop and start them.

`initctl list` also shows the jobs pacemaker runs (its resource agents start
the same upstart jobs), so a caller that must not fight pacemaker leaves the
jobs of pacemaker resources to `runbook.lib.pacemaker`.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime

from runbook.errors import RemoteError
from runbook.lib.ssh import SSHPool

TIMEOUT = 120.0
_PROCESS = re.compile(r"start/running, process (\d+)")
LSTART = "%a %b %d %H:%M:%S %Y"  # `ps -o lstart`: when a process started, to the second
_LINE = re.compile(r"^(?P<job>[\w.@+-]+)(?: \((?P<instance>[^)]*)\))? (?P<goal>start|stop)/(?P<state>[\w-]+)")


def jobs(pool: SSHPool, node: str) -> dict[str, bool]:
    """{job: running} from `initctl list`; a job with instances runs when one of them does."""
    command = "initctl list"
    out = pool.check(node, command, timeout=TIMEOUT, fix="check upstart on the node").stdout
    found: dict[str, bool] = {}
    for line in out.splitlines():
        match = _LINE.match(line.strip())
        if match is None:
            if line.strip():
                raise RemoteError(node, command, 0, f"unexpected line: {line!r}", "check upstart on the node")
            continue
        running = match["goal"] == "start" and match["state"] == "running"
        found[match["job"]] = found.get(match["job"], False) or running
    return found


def stop(pool: SSHPool, node: str, job: str) -> None:
    """Stop a job; one already stopped is fine (`stop` says "Unknown instance" and exits 1)."""
    result = pool.run(node, f"stop {shlex.quote(job)}", timeout=TIMEOUT)
    if not result.ok and "Unknown instance" not in result.stderr:
        raise RemoteError(node, f"stop {job}", result.status, result.stderr,
                          f"check the job with `status {job}` and its log on {node}")


def start(pool: SSHPool, node: str, job: str) -> None:
    """Start a job; one already running is fine (`start` says "Job is already running")."""
    result = pool.run(node, f"start {shlex.quote(job)}", timeout=TIMEOUT)
    if not result.ok and "already running" not in result.stderr:
        raise RemoteError(node, f"start {job}", result.status, result.stderr,
                          f"check the job with `status {job}` and its log on {node}")


def restart(pool: SSHPool, node: str, job: str) -> None:
    """Restart a job so it reads its configuration again; a stopped one is started."""
    result = pool.run(node, f"restart {shlex.quote(job)}", timeout=TIMEOUT)
    if result.ok:
        return
    if "Unknown instance" in result.stderr:
        start(pool, node, job)
        return
    raise RemoteError(node, f"restart {job}", result.status, result.stderr,
                      f"check the job with `status {job}` and its log on {node}")



def started(pool: SSHPool, node: str, names: list[str]) -> dict[str, datetime | None]:
    """{job: when its running process started (None: it does not run)}, in two commands: the pids
    from `initctl list`, their start times from `ps -o lstart` (the node's local clock). A daemon reads
    its configuration when it starts: a start later than an edit is what proves the edit in effect."""
    command = "initctl list"
    listed = pool.check(node, command, timeout=TIMEOUT, fix="check upstart on the node").stdout
    pids = {}
    for line in listed.splitlines():
        match = _LINE.match(line.strip())
        found = _PROCESS.search(line)
        if match and found and match["job"] in names and match["instance"] is None:
            pids[match["job"]] = found.group(1)
    times: dict[str, datetime] = {}
    if pids:
        command = f"ps -o pid=,lstart= -p {','.join(sorted(set(pids.values())))}"
        for line in pool.run(node, command, timeout=TIMEOUT).stdout.splitlines():
            pid, _, text = line.strip().partition(" ")
            try:
                times[pid] = datetime.strptime(" ".join(text.split()), LSTART)
            except ValueError:
                raise RemoteError(node, command, 0, f"unexpected line {line!r}", "check ps on the node") from None
    return {name: times.get(pids.get(name, "")) for name in names}
