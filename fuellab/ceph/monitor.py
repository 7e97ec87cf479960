"""The monitors' clock: what happens to a cluster while nobody looks.

Commands see the current state because each one refreshes the clusters first;
this loop makes time-driven changes happen on their own: an OSD found down is
marked down, one down longer than the down-out interval without noout is
marked out (and backfill starts). It refreshes when the world changed, when a
down-out deadline is due, and at least once a wall second (for changes made to
node files only).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from fuellab.ceph import cluster, store

if TYPE_CHECKING:
    from fuellab.lab import Lab

log = logging.getLogger("fuellab.ceph")

TICK = 10.0  # lab seconds between two looks
MIN_SLEEP = 0.02  # wall seconds: a fast clock must not turn the loop into a busy wait
IDLE_REFRESH = 1.0  # wall seconds


async def monitor(lab: Lab) -> None:
    store.clear_cache()  # after a restore the files on disk are the truth
    last_version = -1
    last_refresh = 0.0
    deadline: float | None = None
    while True:
        await asyncio.sleep(max(MIN_SLEEP, lab.clock.wall(TICK)))
        world = lab.world
        due = deadline is not None and lab.clock.now() >= deadline
        idle = time.monotonic() - last_refresh >= IDLE_REFRESH
        if world.version == last_version and not due and not idle:
            continue
        try:
            view = cluster.refresh(world, lab.addresses)
            deadline = view.next_deadline
        except Exception:  # a lab bug must not stop the clusters' clock
            log.exception("ceph monitor refresh failed")
        last_version = world.version
        last_refresh = time.monotonic()
