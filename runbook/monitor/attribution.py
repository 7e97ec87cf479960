"""What the monitor ties its records to: the stage and step running, and the VMs to probe.

Both come from files the runbook writes beside the journal, read without ever
taking the journal's lock (the journal writes by atomic rename, so a reader
sees a whole old or a whole new file): the journal (`journal.json`: the stage
whose status is running, and its running step) and stage 0's baseline
(`baseline.json`: the VMs that were ACTIVE with a floating IP before the
upgrade started). Each is re-read only when its file changed, and at most once
per check interval.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNNING = "running"  # runbook.journal.RUNNING
IDLE = "(no stage running)"  # the stage label of time no stage was running
# runbook.procedure.preflight's BASELINE_FILE and BASELINE_FACT, not imported: the monitor
# process stays small (preflight brings the SSH and Ceph libraries); a test checks they agree.
BASELINE_FILE = "baseline.json"
BASELINE_FACT = "baseline_file"

Signature = tuple[int, int, int] | None


def _signature(path: Path) -> Signature:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def running_step(journal: dict[str, Any]) -> tuple[str | None, str | None]:
    """(stage, step) the journal records as running; the last one if several are; (None, None) if none."""
    found: tuple[str | None, str | None] = (None, None)
    for name, record in (journal.get("stages") or {}).items():
        if not isinstance(record, dict) or record.get("status") != RUNNING:
            continue
        step = None
        for step_name, step_record in (record.get("steps") or {}).items():
            if isinstance(step_record, dict) and step_record.get("status") == RUNNING:
                step = step_name
        found = (name, step)
    return found


class FileWatcher:
    """A JSON file re-read when it changed, checked at most every `interval` seconds."""

    def __init__(self, path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval
        self.data: dict[str, Any] | None = None
        self._signature: Signature = None
        self._checked = float("-inf")

    def poll(self) -> bool:
        """Re-read if due and changed; True when `data` changed."""
        now = time.monotonic()
        if now - self._checked < self.interval:
            return False
        self._checked = now
        signature = _signature(self.path)
        if signature == self._signature:
            return False
        self._signature = signature
        if signature is None:
            changed, self.data = self.data is not None, None
            return changed
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._signature = None  # half-visible or unreadable: try again at the next check
            return False
        self.data = data if isinstance(data, dict) else None
        return True


class JournalWatcher(FileWatcher):
    """The stage and step running now, from the journal file."""

    def current(self) -> tuple[str | None, str | None]:
        self.poll()
        return running_step(self.data or {})

    def baseline_path(self) -> Path:
        """Where stage 0 wrote the baseline: the journal's fact, else the default beside the journal."""
        recorded = ((self.data or {}).get("facts") or {}).get(BASELINE_FACT)
        return Path(recorded) if recorded else self.path.parent / BASELINE_FILE


@dataclass(frozen=True)
class VmTarget:
    id: str
    name: str
    address: str  # the floating IP
    port: int

    def row(self) -> list[Any]:
        return [self.name, self.address, self.port]


def vm_targets(baseline: dict[str, Any], port: int) -> dict[str, VmTarget]:
    """Every VM ACTIVE in the baseline with a floating IP: floating IP -> port -> server (the
    baseline's `floating_ips`, `ports` and `servers`); a server's own floating address otherwise."""
    cloud = baseline.get("cloud") or {}
    servers = {s.get("id"): s for s in cloud.get("servers") or [] if isinstance(s, dict)}
    ports = {p.get("id"): p for p in cloud.get("ports") or [] if isinstance(p, dict)}
    found: dict[str, VmTarget] = {}

    def add(server: dict[str, Any] | None, address: Any) -> None:
        if not server or server.get("status") != "ACTIVE" or not address or server["id"] in found:
            return
        found[server["id"]] = VmTarget(str(server["id"]), str(server.get("name") or server["id"]),
                                       str(address), port)

    for fip in sorted(cloud.get("floating_ips") or [], key=lambda f: str(f.get("address"))):
        port_row = ports.get(fip.get("port_id")) or {}
        add(servers.get(port_row.get("device_id")), fip.get("address"))
    for server in servers.values():
        floating = sorted(str(a[1]) for a in server.get("addresses") or []
                          if isinstance(a, list | tuple) and len(a) >= 3 and a[2] == "floating")
        add(server, floating[0] if floating else None)
    return dict(sorted(found.items()))


class BaselineWatcher:
    """The VMs to probe, following the baseline file (absent until stage 0 has run)."""

    def __init__(self, journal: JournalWatcher, port: int, interval: float) -> None:
        self.journal = journal
        self.port = port
        self.interval = interval
        self.targets: dict[str, VmTarget] = {}
        self._file: FileWatcher | None = None

    def poll(self) -> bool:
        """True when the set of targets changed."""
        path = self.journal.baseline_path()
        if self._file is None or self._file.path != path:
            self._file = FileWatcher(path, self.interval)
        if not self._file.poll():
            return False
        targets = vm_targets(self._file.data or {}, self.port)
        changed = targets != self.targets
        self.targets = targets
        return changed
