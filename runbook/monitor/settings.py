"""How often the monitor probes, how long it waits, how long it may live, and where it keeps its files."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runbook.errors import MonitorError

FOLDER = "monitor"  # inside the journal folder of the env: <journal_dir>/env-<id>/monitor/


@dataclass(frozen=True)
class Settings:
    """Intervals and timeouts in wall seconds.

    A TCP probe of a floating IP is cheap, so it runs often (`probe_interval`); an API
    read costs the cloud a token check and a DB query, so it runs less often. Every
    probe gives up after its timeout, and the whole monitor after `max_lifetime`,
    so a monitor nobody stopped does not probe a cloud forever.
    """

    probe_interval: float = 0.25
    probe_timeout: float = 1.0
    api_interval: float = 1.0
    api_timeout: float = 5.0
    write_probe: bool = False  # off by default: it writes (a key pair, deleted at once) to the cloud
    max_lifetime: float = 24 * 3600.0
    tick_interval: float = 10.0  # a progress record: bounds what a crash of the monitor loses
    baseline_check: float = 2.0  # how often a missing or changed baseline file is looked for

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool):
                continue
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise MonitorError(f"monitor setting {name} must be a positive number of seconds, not {value!r}",
                                   f"pass a positive --{name.replace('_', '-')}")
        if self.probe_interval < 0.05:
            raise MonitorError(f"probe interval {self.probe_interval} s is below 0.05 s",
                               "probe at most 20 times a second (--probe-interval 0.05 or more)")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Paths:
    """The monitor's files, all in one private folder beside the journal."""

    folder: Path

    @property
    def pid(self) -> Path:
        return self.folder / "monitor.pid"

    @property
    def lock(self) -> Path:
        return self.folder / "monitor.lock"

    @property
    def events(self) -> Path:
        return self.folder / "events.jsonl"

    @property
    def log(self) -> Path:
        return self.folder / "monitor.log"

    @property
    def figures(self) -> Path:
        return self.folder / "figures.json"

    @property
    def journal_folder(self) -> Path:
        return self.folder.parent

    @property
    def journal(self) -> Path:
        return self.journal_folder / "journal.json"


def paths_for(journal_dir: str | Path, env_id: int) -> Paths:
    """The monitor folder of an env (the journal's layout: <journal_dir>/env-<id>/)."""
    return Paths(Path(journal_dir) / f"env-{int(env_id)}" / FOLDER)
