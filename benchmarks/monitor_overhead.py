"""The workload monitor's own cost: CPU and memory while it probes a lab, and how fast its record grows.

For the default lab (12 VMs) and a 200-VM lab, each on an address block of its
own: start the lab, write the cloud part of stage 0's baseline (servers, ports,
floating IPs: what the monitor reads), start the monitor with its default
settings (TCP every 0.25 s per VM, an API read every 1 s), let it settle, then
measure over a window:

- CPU: the monitor process's user + system time over the window, as a share of
  one core (aim < 5 %);
- RSS: its resident memory at the end of the window (aim < 100 MiB);
- probes per second it actually made (from its own counts), against the
  4 per VM per second it is asked for;
- the record's growth over the window, extrapolated to one day (aim < 10 MiB:
  state changes and per-step counts only, so it must not grow with the number
  of probes).

Each figure is printed with its ratio to its aim (< 1 is within). The monitor
is stopped and the lab removed at the end, whatever happens.

    .venv/bin/python benchmarks/monitor_overhead.py [--window 30] [--big-vms 200] [--big-computes 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from fuellab import prefixes
from runbook import monitor
from runbook.config import load_target
from runbook.journal import Journal
from runbook.lib import cloud
from runbook.monitor.store import read_events

FUELLAB = [sys.executable, "-m", "fuellab.cli"]
AIMS = {"cpu_pct": 5.0, "rss_mib": 100.0, "record_mib_per_day": 10.0}
SETTLE = 5.0  # seconds after start before measuring (imports, first probes, first API auth)


def fuellab(*args: str) -> None:
    subprocess.run([*FUELLAB, *args], check=True, capture_output=True, timeout=900)


def write_baseline(lab_dir: Path) -> int:
    """The part of stage 0's baseline the monitor reads; the number of servers."""
    target = load_target(lab_dir / "target.yaml")
    conn = cloud.from_target(target, timeout=120)
    data = {"cloud": {"servers": cloud.servers(conn), "ports": cloud.ports(conn),
                      "floating_ips": cloud.floating_ips(conn)}}
    folder = Journal.open(target.journal_dir, target.env).folder
    (folder / "baseline.json").write_text(json.dumps(data))
    return len(data["cloud"]["servers"])


def counts(events: list[dict[str, Any]]) -> tuple[int, int]:
    """(VM probes, VMs seen up) from the record: the last count of each segment."""
    last: dict[int, list[int]] = {}
    up: set[str] = set()
    for event in events:
        if event["e"] == "seg":
            last[event["seg"]] = event.get("vm") or [0, 0]
        elif event["e"] == "vm" and event["up"]:
            up.add(event["id"])
    return sum(c[0] + c[1] for c in last.values()), len(up)


def probing_seconds(events: list[dict[str, Any]]) -> float:
    """From the first VM target record to the stop record."""
    first = next(e["m"] for e in events if e["e"] == "targets")
    return next(e["m"] for e in events if e["e"] == "stop") - first


def target_interval(events: list[dict[str, Any]]) -> float:
    return float(next(e for e in events if e["e"] == "start")["settings"]["probe_interval"])


def measure(label: str, window: float, *up_args: str) -> dict[str, Any]:
    prefix, lock = prefixes.claim()
    base = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    lab_dir = base / "lab"
    try:
        started = time.monotonic()
        fuellab("up", "--detach", "--dir", str(lab_dir), "--prefix", str(prefix), *up_args)
        lab_up = time.monotonic() - started
        servers = write_baseline(lab_dir)
        target = load_target(lab_dir / "target.yaml")
        paths = monitor.paths(target)
        status = monitor.start(target)
        try:
            proc = psutil.Process(status.pid)
            time.sleep(SETTLE)
            cpu0, size0 = proc.cpu_times(), paths.events.stat().st_size
            t0 = time.monotonic()
            time.sleep(window)
            cpu1, elapsed = proc.cpu_times(), time.monotonic() - t0
            size1 = paths.events.stat().st_size
            rss = proc.memory_info().rss / 2**20
        finally:
            monitor.stop(target)
        events = list(read_events(paths.events))
        probes, seen_up = counts(events)
        probing = probing_seconds(events)
        busy = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        return {
            "label": label, "vms": servers, "seen_up": seen_up, "lab_up_s": round(lab_up, 2),
            "window_s": round(elapsed, 1),
            "cpu_pct": round(100.0 * busy / elapsed, 2),
            "rss_mib": round(rss, 1),
            "probes_per_s": round(probes / probing, 1), "asked_per_s": round(servers / target_interval(events), 1),
            "record_bytes": paths.events.stat().st_size,
            "record_mib_per_day": round((size1 - size0) / elapsed * 86400 / 2**20, 2),
        }
    finally:
        subprocess.run([*FUELLAB, "down", "--dir", str(lab_dir)], capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)
        lock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured per lab")
    parser.add_argument("--big-vms", type=int, default=200)
    parser.add_argument("--big-computes", type=int, default=10)
    args = parser.parse_args()
    rows = [measure("default lab", args.window),
            measure(f"{args.big_vms}-VM lab", args.window, "--vms", str(args.big_vms),
                    "--computes", str(args.big_computes))]
    print(json.dumps(rows, indent=1))
    print()
    print(f"{'figure':<34}" + "".join(f"{r['label'] + ' (' + str(r['vms']) + ' VMs)':>26}" for r in rows))
    for key, aim in AIMS.items():
        cells = "".join(f"{f'{r[key]} ({r[key] / aim:.2f})':>26}" for r in rows)
        print(f"{key + f' (aim {aim:g})':<34}{cells}")
    for key in ("seen_up", "probes_per_s", "asked_per_s", "record_bytes", "lab_up_s"):
        print(f"{key:<34}" + "".join(f"{r[key]!s:>26}" for r in rows))


if __name__ == "__main__":
    main()
