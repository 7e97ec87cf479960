"""The running data plane: listeners follow reachability, outages go to the ledger.

The engine re-derives every guest's reachability (fuellab.dataplane.reach)
right after the world changes: `World.changed()` calls it back, it schedules
one pass on the event loop, and the pass is stamped with the lab time of the
first change it covers, so an outage is measured from the change that caused
it, not from when the pass ran. A slow periodic pass also catches causes that
do not touch the world (a config file edited over SSH, a DB row changed).
Passes are spaced so that they take at most a fifth of the lab's time: a pass
over 2,000 guests costs about 10 ms, one over the default scenario well under 1.

A live migration's final pause is accounted at its nominal lab length
(`hold` / `release`), not at the wall time the lab needs to carry it out,
which at the default time factor would be several lab seconds.

Outages: a guest that was reachable and is not any more opens an outage
(`world.meta["vm_outages_open"]`, persisted); when it answers again the
ledger gets `vm_outage {vm, seconds, start}`. `fuellab inspect` adds the
outages still open.

nova-compute's power-state sync runs every `power_state_sync` lab seconds (less often
when a sync costs more than a fifth of that in wall time: a big lab at a fast clock):
on a compute up in an env, an ACTIVE instance of that env's DB whose guest is
gone becomes SHUTOFF (its definition is still there: the host went down) or
ERROR (no definition either: the host was re-installed), power_state SHUTDOWN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from fuellab import galera
from fuellab.dataplane import domains, plane
from fuellab.dataplane.listeners import Listener, open_listener, probe_port
from fuellab.dataplane.reach import Evaluator, Reach

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Node

log = logging.getLogger("fuellab.dataplane")

OPEN_KEY = "vm_outages_open"
MIN_INTERVAL = 0.002  # wall seconds between two passes triggered by changes (at least)
PERIODIC = 0.05  # wall seconds between two passes that no change triggered (at least)
LOAD = 0.2  # at most this share of the lab's time goes to passes: big labs pass less often
POWER_SYNC = 60.0  # lab seconds between two power-state syncs (nova: sync_power_state_interval)
POWER_SHUTDOWN = 4
POWER_RUNNING = 1


class Engine:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.listeners: dict[str, Listener] = {}
        self.up: set[str] = set()
        self.verdicts: dict[str, Reach] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._handle: asyncio.Handle | None = None
        self._pending_at: float | None = None
        self._busy = False
        self._last = 0.0
        self._attached = False
        self._cost = 0.0  # wall seconds the last pass took
        self.held: set[str] = set()  # guests paused by a migration: their pause is accounted apart

    # ------------------------------------------------------------------ wiring

    @property
    def port(self) -> int:
        return probe_port(self.lab.settings.ssh_port)

    def attach(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        if not self._attached:
            self.lab.world.listeners.append(self._on_change)
            self._attached = True

    def detach(self) -> None:
        if self._attached:
            with contextlib.suppress(ValueError):
                self.lab.world.listeners.remove(self._on_change)
            self._attached = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()
        self.up.clear()

    def _on_change(self) -> None:
        if self._busy or self.loop is None:
            return
        if self._pending_at is None:
            self._pending_at = self.lab.clock.now()
        if self._handle is not None:
            return
        if threading.get_ident() != self._thread:
            self.loop.call_soon_threadsafe(self._on_change)
            return
        delay = max(0.0, self._last + max(MIN_INTERVAL, self._cost / LOAD) - time.monotonic())
        self._handle = self.loop.call_later(delay, self._run)

    def _run(self) -> None:
        self._handle = None
        at, self._pending_at = self._pending_at, None
        try:
            self.recompute(at)
        except Exception:  # a lab bug must not stop the data plane
            log.exception("data plane pass failed")

    async def run(self) -> None:
        """The periodic passes and the power-state sync, until cancelled."""
        self.attach()
        next_sync = self.lab.clock.now()
        try:
            self.recompute()
            while True:
                period = max(PERIODIC, 2 * self._cost / LOAD)
                await asyncio.sleep(period)
                if time.monotonic() - self._last >= period:
                    self.recompute()
                if self.lab.clock.now() >= next_sync:
                    started = time.monotonic()
                    self.sync_power_states()
                    # Like the passes, at most LOAD of the wall time: a sync over 500 computes
                    # costs about a second, more than 60 lab s at the default factor.
                    spacing = (time.monotonic() - started) / LOAD / self.lab.clock.factor
                    next_sync = self.lab.clock.now() + max(spacing, self.lab.clock.durations.get(
                        "power_state_sync", POWER_SYNC))
        finally:
            self.detach()

    # ------------------------------------------------------------------ a pass

    def recompute(self, at: float | None = None) -> None:
        now = self.lab.clock.now() if at is None else at
        started = time.monotonic()
        self._busy = True
        try:
            self.verdicts = Evaluator(self.lab).all()
            reachable = {u: v.fip for u, v in self.verdicts.items() if v.reason is None and v.fip}
            for uuid, listener in list(self.listeners.items()):
                if reachable.get(uuid) != listener.address:
                    listener.close()
                    del self.listeners[uuid]
            if self.loop is not None:
                for uuid, fip in reachable.items():
                    if uuid not in self.listeners and fip:
                        opened = open_listener(self.loop, fip, self.port, uuid)
                        if opened is not None:
                            self.listeners[uuid] = opened
            answering = set(self.listeners) if self.loop is not None else set(reachable)
            self._account(answering, now)
        finally:
            self._busy = False
            self._last = time.monotonic()
            self._cost = self._last - started

    def hold(self, uuid: str) -> None:
        """A live migration pauses the guest: its outage is the pause, accounted by `release`."""
        self.held.add(uuid)

    def release(self, uuid: str, start: float, seconds: float | None) -> None:
        """The pause ended after `seconds` of lab time (None: the guest did not come back)."""
        self.held.discard(uuid)
        world = self.lab.world
        if seconds is not None:
            world.record("vm_outage", vm=uuid, seconds=round(seconds, 3), start=round(start, 3),
                         cause="live_migration")
        elif uuid in self.up:
            world.meta.setdefault(OPEN_KEY, {}).setdefault(uuid, round(start, 3))
            world.changed()

    def _account(self, answering: set[str], now: float) -> None:
        world = self.lab.world
        answering = answering | (self.held & self.up)
        open_: dict[str, float] = world.meta.setdefault(OPEN_KEY, {})
        touched = False
        for uuid in self.up - answering:
            if uuid not in open_:
                open_[uuid] = round(now, 3)
                touched = True
        for uuid in [u for u in open_ if u in answering]:
            since = float(open_.pop(uuid))
            world.record("vm_outage", vm=uuid, seconds=round(max(0.0, now - since), 3),
                         start=round(since, 3))
            touched = True
        self.up = answering
        if touched:
            world.changed()

    def forget(self, uuid: str) -> None:
        """The guest was deleted: stop listening, close its outage where it stands."""
        listener = self.listeners.pop(uuid, None)
        if listener is not None:
            listener.close()
        self.up.discard(uuid)
        world = self.lab.world
        since = world.meta.get(OPEN_KEY, {}).pop(uuid, None)
        if since is not None:
            now = self.lab.clock.now()
            world.record("vm_outage", vm=uuid, seconds=round(max(0.0, now - float(since)), 3),
                         start=round(float(since), 3), deleted=True)

    # ------------------------------------------------------------------ nova's power-state sync

    def sync_power_states(self) -> None:
        world = self.lab.world
        computes = [n for n in world.nodes.values() if n.online and "compute" in n.roles]
        for env in list(world.clusters.values()):
            if not galera.exists(world, env.id, "nova"):
                continue
            up = {n.hostname: n for n in computes if plane.why_down(self.lab, env, n) is None}
            if up:
                try:
                    sync_env(self.lab, env.id, up)
                except galera.GaleraError as exc:
                    log.debug("power-state sync of env %s skipped: %s", env.id, exc)


def sync_env(lab: Lab, env_id: int, hosts: dict[str, Node]) -> int:
    """Mark the env's ACTIVE instances on `hosts` whose guest is gone; how many were changed."""
    world = lab.world
    marks = ",".join("?" for _ in hosts)
    with galera.read(world, env_id, "nova") as conn:
        rows = conn.execute(
            f"SELECT uuid, id, host FROM instances WHERE deleted = 0 AND host IN ({marks}) "
            "AND vm_state = 'active' AND task_state IS NULL", tuple(hosts)).fetchall()
    changes: list[tuple[str, str]] = []
    for uuid, instance_id, host in rows:
        node = hosts[host]
        name = domains.domain_name(instance_id)
        if name in domains.running(node):
            continue
        changes.append(("stopped" if domains.spec_of(world, node, name) else "error", uuid))
    if changes:
        with galera.write(world, env_id, "nova", len(changes)) as conn:
            for vm_state, uuid in changes:
                conn.execute("UPDATE instances SET vm_state = ?, power_state = ?, updated_at = NOW() "
                             "WHERE uuid = ? AND deleted = 0", (vm_state, POWER_SHUTDOWN, uuid))
        for vm_state, uuid in changes:
            world.record("vm_state_sync", vm=uuid, env=env_id, vm_state=vm_state)
    return len(changes)


def engine_of(lab: Lab) -> Engine | None:
    return getattr(lab, "dataplane", None)


def current(lab: Lab) -> dict[str, Any]:
    """The engine's last verdicts, for diagnostics."""
    engine = engine_of(lab)
    if engine is None:
        return {}
    return {u: {"node": v.node, "fip": v.fip, "reason": v.reason} for u, v in engine.verdicts.items()}
