"""The monitor's loop: probes, state changes, the stage and step they happen in.

One thread runs the TCP probes, follows the journal and the baseline, and
writes progress; one thread per API probe (read, and write if asked) runs its
request on its own interval, so a slow API never delays the floating-IP probes.
Everything ends at a stop request (SIGTERM/SIGINT, `stop()`) or at the
maximum lifetime, whichever comes first; the last records are then written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbook.monitor import prober
from runbook.monitor.attribution import BaselineWatcher, JournalWatcher, VmTarget
from runbook.monitor.settings import Paths, Settings
from runbook.monitor.store import EventStore, now

if TYPE_CHECKING:
    from runbook.config import Target

log = logging.getLogger("runbook.monitor")

JOIN_TIMEOUT = 2.0  # seconds the loop waits for an API thread at the end (its request has its own timeout)


class Segments:
    """The stage/step now running (a numbered segment) and the probe counts within it."""

    KINDS = ("vm", "read", "write")

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self.seq = 0
        self.stage: str | None = None
        self.step: str | None = None
        self._counts: dict[str, list[Any]] = {}

    def label(self) -> dict[str, Any]:
        with self._lock:
            return {"seg": self.seq, "stage": self.stage, "step": self.step}

    def switch(self, stage: str | None, step: str | None) -> bool:
        """A new segment when the stage or step changed (the old one's counts are written final)."""
        with self._lock:
            if self.seq and (stage, step) == (self.stage, self.step):
                return False
            if self.seq:
                self._flush(final=True)
            self.seq += 1
            self.stage, self.step = stage, step
            self._counts = {kind: [0, 0, None, None] for kind in self.KINDS}
            self.store.append("ctx", seg=self.seq, stage=stage, step=step)
            return True

    def count(self, kind: str, up: bool, t: float) -> None:
        with self._lock:
            counts = self._counts.get(kind)
            if counts is None:
                return
            if up:
                counts[0] += 1
            else:
                counts[1] += 1
                counts[2] = t if counts[2] is None else counts[2]
                counts[3] = t

    def flush(self, final: bool = False) -> None:
        with self._lock:
            self._flush(final)

    def _flush(self, final: bool) -> None:
        if self.seq:
            self.store.append("seg", seg=self.seq, final=final,
                              **{kind: list(counts) for kind, counts in self._counts.items()})


class Transitions:
    """The last known state of each VM or API; a record only when it changes."""

    def __init__(self, store: EventStore, segments: Segments, kind: str) -> None:
        self.store = store
        self.segments = segments
        self.kind = kind
        self.state: dict[str, bool] = {}
        self._lock = threading.Lock()

    def observe(self, key: str, up: bool, why: str, at: tuple[float, float], count_as: str) -> None:
        self.segments.count(count_as, up, at[0])
        with self._lock:
            before = self.state.get(key)
            if before == up:
                return
            self.state[key] = up
        fields = {"id": key} if self.kind == "vm" else {"k": key}
        self.store.append(self.kind, at=at, up=up, why=why, **fields, **self.segments.label())
        if self.kind == "api":
            self.segments.flush()  # a report read now sees the refusals counted so far
        if before is not None or not up:
            log.info("%s %s %s (%s)", self.kind, key, "up" if up else "DOWN", why)

    def forget(self, keys: set[str]) -> None:
        with self._lock:
            for key in keys:
                self.state.pop(key, None)


class ApiLoop(threading.Thread):
    """Runs one API probe every `interval` seconds until `stopping` is set."""

    def __init__(self, kind: str, probe: Callable[[], tuple[bool, str]], interval: float,
                 transitions: Transitions, stopping: threading.Event) -> None:
        super().__init__(name=f"monitor-api-{kind}", daemon=True)
        self.kind = kind
        self.probe = probe
        self.interval = interval
        self.transitions = transitions
        self.stopping = stopping

    def run(self) -> None:
        while not self.stopping.is_set():
            at = now()
            up, why = self.probe()
            if self.stopping.is_set():
                return  # the answer may be the monitor's own shutdown: not an observation
            self.transitions.observe(self.kind, up, why, at, count_as=self.kind)
            self.stopping.wait(max(0.0, at[1] + self.interval - time.monotonic()))


class Monitor:
    """One run of the monitor for one env of one target."""

    def __init__(self, target: Target, env_id: int, settings: Settings, paths: Paths,
                 connect: Callable[[], Any] | None = None, owned: Callable[[], bool] = lambda: True) -> None:
        self.target = target
        self.env_id = env_id
        self.settings = settings
        self.paths = paths
        self.stopping = threading.Event()
        self.why_stop = "stop requested"
        self._connect = connect or self._default_connect
        self._owned = owned  # False once the monitor's folder (its lock file) was removed or replaced
        self._writer: prober.WriteProbe | None = None

    def _default_connect(self) -> Any:
        """The original env's API at the address the target's clouds file names (never the seed's):
        whoever answers there during the upgrade is what tenants see."""
        from runbook.lib import cloud

        return cloud.from_target(self.target, self.env_id, timeout=self.settings.api_timeout)

    def stop(self, why: str = "stop requested") -> None:
        self.why_stop = why
        self.stopping.set()

    def run(self, ready: Callable[[], None] = lambda: None) -> str:
        """Probe until stopped, the lifetime ends or the folder is removed; why it ended."""
        store = EventStore(self.paths.events)
        store.append("start", run=f"{int(time.time())}-{os.getpid()}", pid=os.getpid(), env=self.env_id,
                     target=str(self.target.path), settings=self.settings.as_dict())
        segments = Segments(store)
        journal = JournalWatcher(self.paths.journal, self.settings.probe_interval)
        segments.switch(*journal.current())  # before any probe: every record has its segment
        vms = Transitions(store, segments, "vm")
        tcp = prober.TcpProber(self.settings.probe_interval, self.settings.probe_timeout,
                               lambda key, up, why, at: vms.observe(key, up, why, at, count_as="vm"))
        threads: list[ApiLoop] = []
        try:
            threads = self._api_threads(Transitions(store, segments, "api"))
            ready()
            for thread in threads:
                thread.start()
            self._loop(store, segments, journal, vms, tcp)
        finally:
            self.stopping.set()
            for thread in threads:
                thread.join(JOIN_TIMEOUT)
            tcp.close()
            if self._writer is not None:
                with contextlib.suppress(Exception):  # key pairs whose delete was refused: one last try
                    self._writer.cleanup()
            segments.flush(final=True)
            store.append("stop", why=self.why_stop)
            store.close()
            log.info("monitor stopped: %s", self.why_stop)
        return self.why_stop

    def _loop(self, store: EventStore, segments: Segments, journal: JournalWatcher, vms: Transitions,
              tcp: prober.TcpProber) -> None:
        """The TCP probes, the stage and step, the baseline and progress records, until told to stop."""
        s = self.settings
        baseline = BaselineWatcher(journal, self.target.vm_probe_port, s.baseline_check)
        deadline = time.monotonic() + s.max_lifetime
        next_tick = time.monotonic() + s.tick_interval
        while not self.stopping.is_set():
            if time.monotonic() >= deadline:
                self.why_stop = f"maximum lifetime of {s.max_lifetime:.0f} s reached"
                return
            segments.switch(*journal.current())
            if baseline.poll():
                self._retarget(store, tcp, vms, baseline.targets)
            tcp.poll(s.probe_interval)
            if time.monotonic() >= next_tick:
                if not self._owned():  # the journal folder was removed or replaced: nobody reads on
                    self.why_stop = f"its lock file {self.paths.lock} was removed or replaced"
                    return
                segments.flush()
                next_tick = time.monotonic() + s.tick_interval

    def _api_threads(self, apis: Transitions) -> list[ApiLoop]:
        s = self.settings
        reader = self._connect()
        threads = [ApiLoop("read", lambda: prober.api_read(reader, s.api_timeout), s.api_interval, apis,
                           self.stopping)]
        if s.write_probe:
            writer = prober.WriteProbe(self._connect(), s.api_timeout, prober.throwaway_public_key())
            writer.adopt_leftovers()
            threads.append(ApiLoop("write", writer, s.api_interval, apis, self.stopping))
            self._writer = writer
        return threads

    def _retarget(self, store: EventStore, tcp: prober.TcpProber, vms: Transitions,
                  targets: dict[str, VmTarget]) -> None:
        store.append("targets", vms={vm_id: t.row() for vm_id, t in targets.items()})
        vms.forget(set(vms.state) - set(targets))
        tcp.set_endpoints({vm_id: (t.address, t.port) for vm_id, t in targets.items()})
        log.info("probing %d VMs' floating IPs (baseline %s)", len(targets), ", ".join(sorted(
            t.name for t in targets.values()))[:500])
