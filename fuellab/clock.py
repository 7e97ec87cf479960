"""Lab time: one speed factor scales every simulated duration.

Operations that take minutes on hardware (provisioning, deployment, reboot,
live migration, backfill) are declared in lab seconds. The factor says how many
wall seconds one lab second takes, so the whole upgrade of the default scenario
runs in about a minute while the figures the lab reports stay in lab time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

# Lab durations in lab seconds, roughly what the real procedure needed per node.
DEFAULT_DURATIONS: dict[str, float] = {
    "provision": 600.0,  # PXE boot, image write, first boot
    "deploy": 900.0,  # puppet run of the node's roles
    "reboot": 120.0,
    "task_tick": 30.0,  # how often a running task's progress advances
}

DEFAULT_FACTOR = 0.001  # 1 lab second = 1 ms wall: a 600 s provision takes 0.6 s


@dataclass
class Clock:
    """Monotonic lab clock that survives `fuellab down` / `up` through `offset`."""

    factor: float = DEFAULT_FACTOR
    offset: float = 0.0  # lab seconds already elapsed in earlier runs
    durations: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DURATIONS))
    _started: float = field(default_factory=time.monotonic, repr=False)

    def now(self) -> float:
        """Lab seconds since the lab was created."""
        return self.offset + (time.monotonic() - self._started) / self.factor

    def wall(self, lab_seconds: float) -> float:
        return lab_seconds * self.factor

    def duration(self, name: str) -> float:
        return self.durations[name]

    async def sleep(self, lab_seconds: float) -> None:
        await asyncio.sleep(max(0.0, lab_seconds * self.factor))

    def freeze(self) -> float:
        """The offset to persist so that lab time continues after a restart."""
        return self.now()
