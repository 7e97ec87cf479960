"""Lab seconds as the calendar times Ceph prints ("2015-11-02 08:03:12.123456").

Lab second 0 is the same instant `ps` shows as the lab's epoch
(fuellab.node.daemons.LAB_EPOCH), so logs, process start times and Ceph maps agree.
"""

from __future__ import annotations

from datetime import timedelta

from fuellab.node.daemons import LAB_EPOCH


def epoch_seconds(lab_now: float) -> float:
    return LAB_EPOCH.timestamp() + lab_now


def stamp(lab_now: float) -> str:
    return (LAB_EPOCH + timedelta(seconds=lab_now)).strftime("%Y-%m-%d %H:%M:%S.%f")


def log_prefix(lab_now: float, thread: str = "7f3b9c1e4700", level: int = 0) -> str:
    """What every line a Ceph daemon or librados writes to stderr starts with."""
    return f"{stamp(lab_now)} {thread} {level:2d} "
