"""The monitor's record: one JSON object per line, appended, holding state changes only.

Why JSON lines and not SQLite: the record is append-only and written by one
process, read by others (the report, an operator's `tail -f`, a test) while it
grows. A line is written with one `write` and flushed, so a reader sees whole
lines, and a monitor killed mid-line leaves at most one broken last line, which
the reader skips. Nothing needs a query engine, a schema migration or a lock
shared with readers. And it stays small because it does not hold samples: a VM
or API is recorded only when its state changes (up -> down -> up), the stage
and step only when they change, and probe counts as one summary per step
(refreshed every `tick_interval`). Hours of 0.25 s probes of hundreds of VMs
that stay up cost a few lines a minute.

Record kinds (`e`), each with `t` (wall clock, epoch seconds) and `m` (the
monotonic clock, for durations):

- `start` a run of the monitor began: `run`, `pid`, `env`, `target`, `settings`;
- `targets` the VMs probed (from the baseline): `vms` {id: [name, floating IP, port]};
- `ctx` the stage/step running changed: `seg` (a new segment number), `stage`, `step`;
- `vm` a VM's state changed: `id`, `up`, `why`, `seg`, `stage`, `step`;
- `api` an API probe's state changed: `k` (read | write), `up`, `why`, `seg`, `stage`, `step`;
- `seg` probe counts of a segment so far: `seg`, `final`, `read`/`write`/`vm`
  [ok, failed, first failure t, last failure t];
- `stop` the run ended: `why`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runbook import redact


def now() -> tuple[float, float]:
    """(wall, monotonic) seconds, rounded to the millisecond the record keeps."""
    return round(time.time(), 3), round(time.monotonic(), 3)


class EventStore:
    """Appends records to the events file; safe to call from the monitor's threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def append(self, kind: str, at: tuple[float, float] | None = None, **fields: Any) -> dict[str, Any]:
        t, m = at or now()
        record = {"t": t, "m": m, "e": kind, **fields}
        line = redact.redact(json.dumps(record, separators=(",", ":"), default=str)) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
        return record

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every whole record of the file, in order; a broken line (a crash mid-write) is skipped."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                return  # being written right now, or cut by a crash
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "e" in record:
                yield record
