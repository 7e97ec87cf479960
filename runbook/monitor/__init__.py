"""The workload monitor: what the upgrade costs the tenants, measured from outside, as a tenant sees it.

A detached process per env (`python -m runbook.monitor run --target T --env N`)
that the stages start before they act and that lives across pytest sessions
until `python -m runbook.monitor stop` (or its maximum lifetime). Every
`probe_interval` it connects over TCP to every baseline VM's floating IP
(`vm_probe_port`), every `api_interval` it reads (and, with `--write-probe`,
writes) through the original env's API at the address the target's clouds file
names, and it records each state change with the stage and step the journal
says are running. `report` turns the record into figures per VM, per stage.

Modules: `settings` (intervals, files), `prober` (TCP and API probes),
`attribution` (journal and baseline, read without locks), `store` (the record),
`runner` (the loop), `figures` (arithmetic and tables), `process` (start,
stop, lock, pid file), `__main__` (the command line).

Real protocols only: TCP to the floating IPs, openstacksdk to the API. The
monitor imports nothing of the lab and reads no lab state.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.monitor import figures as _figures
from runbook.monitor import process
from runbook.monitor.process import Status
from runbook.monitor.settings import Paths, Settings, paths_for
from runbook.monitor.store import read_events

if TYPE_CHECKING:
    from runbook.config import Target

__all__ = ["Paths", "Settings", "Status", "compute_figures", "paths", "report", "start", "status", "stop"]


def paths(target: Target, env_id: int | None = None) -> Paths:
    """The monitor's files for an env of the target (default: the target's env)."""
    return paths_for(target.journal_dir, target.env if env_id is None else env_id)


def start(target: Target, env_id: int | None = None, settings: Settings | None = None) -> Status:
    """Start the env's monitor, detached; nothing happens when one already runs."""
    env = target.env if env_id is None else env_id
    return process.start(target.path, env, paths(target, env), settings)


def stop(target: Target, env_id: int | None = None) -> str:
    """Stop the env's monitor (it writes its last records first); what happened."""
    return process.stop(paths(target, env_id))


def status(target: Target, env_id: int | None = None) -> Status:
    return process.status(paths(target, env_id))


def compute_figures(where: Paths) -> dict[str, Any]:
    """The figures of an env's record (a running monitor's last run ends now)."""
    running = process.lock_held(where)
    now = (time.time(), time.monotonic()) if running else None
    return _figures.compute(read_events(where.events), now=now)


def report(target: Target, env_id: int | None = None, json_path: Path | None = None) -> tuple[dict[str, Any], str]:
    """Figures and their tables; the figures are written as JSON (default: figures.json in the monitor folder)."""
    where = paths(target, env_id)
    found = compute_figures(where)
    out = Path(json_path) if json_path is not None else where.figures
    if out.parent.is_dir():
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(found, handle, indent=1)
        os.replace(tmp, out)
    return found, _figures.render(found)
