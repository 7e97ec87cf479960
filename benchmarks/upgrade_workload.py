"""The whole upgrade as the tenants live it: VM outages, reboots, API reads and writes, wall time.

On a fresh lab in a temporary folder (its own address block: `--prefix`, else one
claimed from fuellab.prefixes), start the workload monitor with its write probe,
run every stage module there is in one pytest session, as `make upgrade` does,
stop the monitor and the lab, then read three records and print each figure
with its ratio to the design's target (DESIGN §5; <= 1 is within, unless said):

- the lab's ledger (its world.db once the lab is down; the runbook never reads
  it): each `vm_outage` in lab seconds, VMs rebooted, `api_writes` (when the
  tenant traffic saw the VIP refuse and accept writes again), and the Fuel
  tasks (provisioning, deployment) with their lab start and end;
- the monitor's figures (wall seconds, as a tenant outside measures them);
- the journal: each stage's and step's wall start and end.

Lab and wall time: the lab's clock runs `time_factor` wall seconds per lab
second; the benchmark samples the lab's clock (`/status` lab_time) against the
wall clock before and after the run, so a journal time maps to lab time
(`LabClock`), and each ledger outage is attributed to the stage and step that
ran when it began.

Figures and targets:

1. Per-VM data-plane outage: each VM's outages summed over the whole upgrade,
   the largest of those sums (target 1 lab s), and per stage the largest and
   the total over VMs; the monitor's wall figures beside them.
2. VMs rebooted or left unreachable (target 0).
3. API reads: share of the monitor's read probes answered, longest gap
   (target 100 %, reads answered throughout).
4. API write window, against its bound. The lab gives no simulated duration
   to a dump, a restore, a `db sync` or the switch-over (they take the wall
   time the lab needs to carry them out), so the bound is what the journal
   shows those steps took: stage 3's `dump`, `restore` and `db sync *` steps
   plus stage 5 from the start of its cut (`stop seed cluster`) to the end of
   `leave maintenance` (the design keeps tenant writes out until the computes
   are in: a rollback of control loses none). Lab value = wall / factor.
   Window: the monitor's first to last refused write (wall; exact to one API
   interval) and the ledger's `api_writes` refused -> accepted (lab). Target:
   window <= 1.10 x bound.
5. Whole-upgrade wall time against the lab's critical path: the union of the
   simulated activities as the upgrade ran them (each Fuel task's phases at
   their nominal `provision`/`deploy`/`reboot` durations, each live migration
   at `live_migration` + `migration_pause`, from when it started), times the
   factor. Where two overlapped in this run they count once; what they do not
   cover is the runbook's own time (SSH, APIs, checks, journal) and the lab's
   scheduling overhead (a 600 s provisioning takes ~680 lab s: its ticks).
   Target: wall <= 1.10 x critical path.

    .venv/bin/python benchmarks/upgrade_workload.py [--prefix N] [--api-interval 0.25] [--time-factor F] [--keep]

At the default speed the runbook's own latency (SSH rounds, API calls, checks, journal) is
multiplied by 1000 against the simulated work; `--time-factor 0.01` or `0.1` shows how the same
code fares when the simulated work weighs more (a run at 0.1 takes ~15 minutes).
benchmarks/cut_outage.py runs stage 5 alone in real time.

Pure computations (LabClock, attribution, unions, bounds) are unit tested in
tests/runbook/test_upgrade_workload.py; the run itself is not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FUELLAB = [sys.executable, "-m", "fuellab.cli"]
BETWEEN = "(between stages)"
AIM_OUTAGE_LAB_S = 1.0
AIM_WRITE_RATIO = 1.10
AIM_WALL_RATIO = 1.10
UPGRADE_TIMEOUT = 1800.0
# The part of the switch-over that belongs to the write window's bound (see the docstring).
CUT_FIRST, CUT_LAST = "stop seed cluster", "leave maintenance"
DB_STEPS = ("dump", "restore")
SYNC_PREFIX = "db sync "
# Fuel task name -> the lab durations of its phases (fuellab.fuel.orchestrator.DURATION).
TASK_PHASES = {"provision": ("provision",), "deployment": ("deploy",), "node_deletion": ("reboot",),
               "cluster_deletion": ("reboot",)}


# --------------------------------------------------------------------------- pure computations


@dataclass(frozen=True)
class LabClock:
    """Lab time of a wall time: the lab's clock read at `wall0` showed `lab0`; it runs 1/`factor`
    lab seconds per wall second."""

    wall0: float
    lab0: float
    factor: float

    def lab(self, wall: float) -> float:
        return self.lab0 + (wall - self.wall0) / self.factor


def iso_seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


@dataclass(frozen=True)
class Span:
    name: str
    start: float  # wall seconds
    end: float


def journal_spans(journal: dict[str, Any]) -> tuple[list[Span], dict[str, list[Span]]]:
    """The stages (in the order they started) and each stage's steps, as wall spans. A stage or step
    still running (no end) ends where it started."""
    stages, steps = [], {}
    for name, record in journal.get("stages", {}).items():
        if not record.get("started"):
            continue
        start = iso_seconds(record["started"])
        stages.append(Span(name, start, iso_seconds(record["ended"]) if record.get("ended") else start))
        steps[name] = [Span(step, iso_seconds(s["started"]), iso_seconds(s["ended"]) if s.get("ended")
                            else iso_seconds(s["started"]))
                       for step, s in record.get("steps", {}).items() if s.get("started")]
    return sorted(stages, key=lambda s: s.start), steps


def attribute(wall: float, stages: list[Span], steps: dict[str, list[Span]]) -> tuple[str, str | None]:
    """(stage, step) running at `wall`: the stage whose span holds it, the latest-started step of it that
    holds it (fan-outs run steps side by side); BETWEEN when no stage ran."""
    stage = next((s for s in stages if s.start <= wall <= s.end), None)
    if stage is None:
        return BETWEEN, None
    running = [s for s in steps.get(stage.name, []) if s.start <= wall <= s.end]
    return stage.name, max(running, key=lambda s: s.start).name if running else None


def outage_figures(outages: Iterable[dict[str, Any]], vms: Iterable[str]) -> dict[str, Any]:
    """Per VM and per stage from outages {vm, seconds, stage, step}: each VM's sum over the upgrade,
    the largest sum; per stage the largest per-VM sum, the total, how many outages; per step the same."""
    per_vm = dict.fromkeys(vms, 0.0)
    stages: dict[str, dict[str, float]] = {}
    steps: dict[tuple[str, str | None], dict[str, float]] = {}
    for o in outages:
        per_vm[o["vm"]] = per_vm.get(o["vm"], 0.0) + o["seconds"]
        stages.setdefault(o["stage"], {}).setdefault(o["vm"], 0.0)
        stages[o["stage"]][o["vm"]] += o["seconds"]
        steps.setdefault((o["stage"], o["step"]), {}).setdefault(o["vm"], 0.0)
        steps[(o["stage"], o["step"])][o["vm"]] += o["seconds"]

    def row(by_vm: dict[str, float]) -> dict[str, float]:
        return {"vms": len(by_vm), "max_per_vm": round(max(by_vm.values(), default=0.0), 3),
                "total": round(sum(by_vm.values()), 3)}

    return {"max_per_vm": round(max(per_vm.values(), default=0.0), 3), "per_vm": per_vm,
            "by_stage": {stage: row(by_vm) for stage, by_vm in stages.items()},
            "by_step": {f"{stage} / {step}": row(by_vm) for (stage, step), by_vm in steps.items()}}


def union_length(intervals: Iterable[tuple[float, float]]) -> float:
    """Length of the union of [start, end] intervals (overlaps counted once)."""
    total, current = 0.0, None
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    if current is not None:
        total += current[1] - current[0]
    return total


def simulated_intervals(tasks: Iterable[dict[str, Any]], migrations: Iterable[dict[str, Any]],
                        durations: dict[str, float]) -> tuple[list[tuple[float, float]], list[str]]:
    """Lab intervals of the simulated work at nominal length, from when each began: Fuel tasks (by their
    phases) and live migrations; the names of tasks whose phases are unknown (then their actual length)."""
    out, unknown = [], []
    for task in tasks:
        if task.get("time_start") is None:
            continue
        phases = TASK_PHASES.get(task["name"])
        if phases is None:
            unknown.append(task["name"])
            end = task.get("time_end") or task["time_start"]
            out.append((task["time_start"], end))
            continue
        out.append((task["time_start"], task["time_start"] + sum(durations[p] for p in phases)))
    nominal = durations["live_migration"] + durations["migration_pause"]
    for m in migrations:
        start = m["at"] - m["seconds"]
        out.append((start, start + nominal))
    return out, unknown


def write_bound(steps: dict[str, list[Span]], db_stage: str, control_stage: str) -> dict[str, float]:
    """Wall seconds of dump, restore, db sync (stage 3) and the switch (stage 5 from its cut to leaving
    maintenance; the cut's first step of the last attempt)."""
    db_steps = steps.get(db_stage, [])
    dump = sum(s.end - s.start for s in db_steps if s.name == "dump")
    restore = sum(s.end - s.start for s in db_steps if s.name == "restore")
    sync = sum(s.end - s.start for s in db_steps if s.name.startswith(SYNC_PREFIX))
    control = steps.get(control_stage, [])
    firsts = [s for s in control if s.name.split(" #")[0] == CUT_FIRST]
    lasts = [s for s in control if s.name == CUT_LAST]
    switch = lasts[-1].end - firsts[-1].start if firsts and lasts else 0.0
    return {"dump": dump, "restore": restore, "sync": sync, "switch": switch,
            "total": dump + restore + sync + switch}


def write_window_lab(events: Iterable[dict[str, Any]]) -> float | None:
    """Lab seconds from the first `api_writes` refusal to the next acceptance (the ledger's view)."""
    refused = None
    for e in events:
        if e["kind"] != "api_writes":
            continue
        if not e["accepted"] and refused is None:
            refused = e["at"]
        elif e["accepted"] and refused is not None:
            return e["at"] - refused
    return None


def ratio(value: float | None, aim: float) -> str:
    if value is None:
        return "-"
    return f"{value / aim:.2f}" if aim else ("0 (ok)" if value == 0 else "over")


# --------------------------------------------------------------------------- the run


def fuellab(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FUELLAB, *args], check=True, capture_output=True, text=True, timeout=timeout)


def sample_clock(lab_dir: Path, factor: float, tries: int = 5) -> LabClock:
    """The lab's clock against the wall clock, from the fastest of a few `/status` round trips."""
    from fuellab.client import ControlClient

    client = ControlClient(lab_dir)
    best: tuple[float, LabClock] | None = None
    for _ in range(tries):
        before = time.time()
        lab_time = float(client.get("/status")["lab_time"])
        after = time.time()
        if best is None or after - before < best[0]:
            best = (after - before, LabClock((before + after) / 2, lab_time, factor))
    assert best is not None
    return best[1]


def read_world(lab_dir: Path) -> dict[str, Any]:
    """Ledger events, Fuel tasks, the time factor and durations of a stopped lab's world.db."""
    from fuellab.clock import DEFAULT_DURATIONS
    from fuellab.dataplane.migration import DEFAULT_DURATIONS as MIGRATION_DURATIONS

    conn = sqlite3.connect(f"file:{lab_dir / 'world.db'}?mode=ro", uri=True)
    try:
        ledger = [json.loads(row[0]) for row in conn.execute("SELECT data FROM ledger ORDER BY seq")]
        tasks = [json.loads(row[0]) for row in conn.execute("SELECT data FROM entities WHERE kind = 'task'")]
        meta = {key: json.loads(value) for key, value in conn.execute("SELECT key, value FROM meta")}
    finally:
        conn.close()
    durations = {**DEFAULT_DURATIONS, **MIGRATION_DURATIONS, **(meta.get("durations") or {})}
    return {"ledger": ledger, "tasks": tasks, "factor": float(meta.get("time_factor", 0.001)),
            "durations": durations}


def run_upgrade(lab_dir: Path, api_interval: float, work: Path) -> dict[str, Any]:
    from runbook import monitor
    from runbook.config import load_target
    from runbook.monitor.settings import Settings

    target = load_target(lab_dir / "target.yaml")
    monitor.start(target, settings=Settings(write_probe=True, api_interval=api_interval))
    argv = [sys.executable, "-m", "pytest", "runbook/stages", "-p", "no:cacheprovider", "-q",
            "--target", str(lab_dir / "target.yaml"), f"--junitxml={work / 'upgrade.xml'}"]
    started = time.time()
    try:
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=UPGRADE_TIMEOUT)
    finally:
        ended = time.time()
        monitor.stop(target)
    figures = monitor.compute_figures(monitor.paths(target))
    journal = json.loads((Path(target.journal_dir) / f"env-{target.env}" / "journal.json").read_text())
    return {"status": proc.returncode, "tail": proc.stdout[-3000:] + proc.stderr[-1500:], "started": started,
            "ended": ended, "monitor": figures, "journal": journal}


def measure(prefix: int, api_interval: float, keep: bool, time_factor: float | None = None) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="upgrade-workload-"))
    lab_dir = base / "lab"
    try:
        from fuellab.client import ControlClient

        speed = ("--time-factor", str(time_factor)) if time_factor else ()
        fuellab("up", "--detach", "--dir", str(lab_dir), "--prefix", str(prefix), *speed)
        clock_before = sample_clock(lab_dir, 1.0)  # the factor is read from the world once the lab is down
        run = run_upgrade(lab_dir, api_interval, base)
        clock_after = sample_clock(lab_dir, 1.0)
        inspect = ControlClient(lab_dir).get("/inspect")
        fuellab("down", "--dir", str(lab_dir))
        world = read_world(lab_dir)
        clock = LabClock(clock_before.wall0, clock_before.lab0, world["factor"])
        drift = clock_after.lab0 - clock.lab(clock_after.wall0)
        return {"run": run, "inspect": inspect, "world": world, "clock": clock, "drift_lab_s": drift,
                "lab_dir": str(lab_dir)}
    finally:
        subprocess.run([*FUELLAB, "down", "--dir", str(lab_dir)], capture_output=True, timeout=120)
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


def figures(measured: dict[str, Any]) -> dict[str, Any]:
    run, world, clock, inspect = measured["run"], measured["world"], measured["clock"], measured["inspect"]
    stages, steps = journal_spans(run["journal"])
    lab_stages = [Span(s.name, clock.lab(s.start), clock.lab(s.end)) for s in stages]
    lab_steps = {name: [Span(s.name, clock.lab(s.start), clock.lab(s.end)) for s in spans]
                 for name, spans in steps.items()}
    outages = []
    for e in world["ledger"]:
        if e["kind"] == "vm_outage":
            stage, step = attribute(e["start"], lab_stages, lab_steps)
            outages.append({"vm": e["vm"], "seconds": float(e["seconds"]), "stage": stage, "step": step,
                            "cause": e.get("cause")})
    open_now = list(inspect["vms_unreachable"])
    lab_outage = outage_figures(outages, inspect["vm_outage_s"])
    monitor_vms = run["monitor"]["vms"]
    wall_by_stage: dict[str, dict[str, float]] = {}
    for vm in monitor_vms.values():
        for stage, row in vm["by_stage"].items():
            cell = wall_by_stage.setdefault(stage, {"max_per_vm": 0.0, "total": 0.0})
            cell["max_per_vm"] = max(cell["max_per_vm"], row["total_s"])
            cell["total"] = round(cell["total"] + row["total_s"], 3)
    bound = write_bound(steps, "stage3_upgrade_db", "stage5_upgrade_control")
    write = run["monitor"]["api_write"]["(all)"]
    intervals, unknown = simulated_intervals(world["tasks"],
                                             [e for e in world["ledger"] if e["kind"] == "live_migration"],
                                             world["durations"])
    critical_lab = union_length(intervals)
    actual_tasks = union_length((t["time_start"], t["time_end"]) for t in world["tasks"]
                                if t.get("time_start") is not None and t.get("time_end") is not None)
    return {
        "stages_passed": run["status"] == 0,
        "outage_lab": lab_outage, "outage_wall_by_stage": wall_by_stage,
        "outage_wall_max_per_vm": max((vm["total_s"] for vm in monitor_vms.values()), default=0.0),
        "vms_rebooted": inspect["vms_rebooted"], "vms_unreachable": open_now,
        "read": run["monitor"]["api_read"]["(all)"],
        "read_gaps": [{k: g.get(k) for k in ("stage", "step", "seconds", "why")}
                      for g in run["monitor"]["api_read"]["gaps"]],
        "write_window_wall": write["window_s"], "write_window_lab_ledger": write_window_lab(world["ledger"]),
        "write_bound_wall": bound, "factor": world["factor"],
        "wall_s": run["ended"] - run["started"], "critical_path_lab": critical_lab,
        "tasks_actual_lab": actual_tasks, "unknown_tasks": unknown, "drift_lab_s": measured["drift_lab_s"],
        "tail": run["tail"] if run["status"] else "",
    }


def render(f: dict[str, Any]) -> str:
    factor = f["factor"]
    lines = [f"stages: {'all passed' if f['stages_passed'] else 'FAILED'}; time factor {factor} wall s per lab s; "
             f"clock drift over the run {f['drift_lab_s']:.1f} lab s"]
    if f["tail"]:
        lines.append(f["tail"])
    o = f["outage_lab"]
    lines += ["", "1. per-VM data-plane outage (sum over the upgrade per VM; target <= 1 lab s)",
              f"   max per VM: {o['max_per_vm']:.1f} lab s (ratio {ratio(o['max_per_vm'], AIM_OUTAGE_LAB_S)}); "
              f"monitor: {f['outage_wall_max_per_vm']:.3f} wall s",
              f"   {'stage':<26}{'VMs':>5}{'max/VM lab s':>14}{'total lab s':>13}{'max/VM wall s':>15}"
              f"{'total wall s':>14}"]
    stages = list(dict.fromkeys([*o["by_stage"], *f["outage_wall_by_stage"]]))
    for stage in stages:
        lab = o["by_stage"].get(stage, {"vms": 0, "max_per_vm": 0.0, "total": 0.0})
        wall = f["outage_wall_by_stage"].get(stage, {"max_per_vm": 0.0, "total": 0.0})
        lines.append(f"   {stage:<26}{lab['vms']:>5}{lab['max_per_vm']:>14.1f}{lab['total']:>13.1f}"
                     f"{wall['max_per_vm']:>15.3f}{wall['total']:>14.3f}")
    lines.append("   by the step running when the outage began (lab s):")
    for step, row in sorted(o["by_step"].items(), key=lambda kv: -kv[1]["total"]):
        lines.append(f"     {step:<70} VMs {row['vms']:>3}  max/VM {row['max_per_vm']:>8.1f}  total {row['total']:>9.1f}")
    lines += ["", "2. VMs rebooted or left unreachable (target 0)",
              f"   rebooted {f['vms_rebooted']}, unreachable at the end {len(f['vms_unreachable'])} "
              f"({ratio(f['vms_rebooted'] + len(f['vms_unreachable']), 0)})"]
    read = f["read"]
    lines += ["", "3. API reads through the VIP (target: 100 % answered, no gap)",
              f"   {read['answered']}/{read['probes']} answered = {read['availability_pct']} % "
              f"(ratio {ratio(read['availability_pct'], 100.0)}); longest gap {read['longest_gap_s']} wall s"]
    lines += [f"   gap of {g['seconds']} wall s in {g['stage']} / {g['step']}: {g['why']}" for g in f["read_gaps"]]
    b = f["write_bound_wall"]
    window_wall = f["write_window_wall"]
    ledger_lab = f["write_window_lab_ledger"]
    lines += ["", "4. API write window (target <= 1.10 x dump + restore + sync + switch; no lab duration applies "
                  "to those, so lab = wall / factor)",
              f"   bound: dump {b['dump']:.3f} + restore {b['restore']:.3f} + sync {b['sync']:.3f} + switch "
              f"{b['switch']:.3f} = {b['total']:.3f} wall s = {b['total'] / factor:.0f} lab s",
              f"   monitor window (first to last refused write): {window_wall:.3f} wall s = "
              f"{window_wall / factor:.0f} lab s (ratio to bound {window_wall / b['total']:.2f}; aim 1.10)"
              if b["total"] else "   no bound: steps missing from the journal",
              "   ledger window (tenant traffic refused -> accepted): "
              + (f"{ledger_lab:.0f} lab s (ratio to bound {ledger_lab * factor / b['total']:.2f})"
                 if ledger_lab is not None and b["total"] else "-")]
    crit_wall = f["critical_path_lab"] * factor
    lines += ["", "5. whole upgrade wall time against the lab's critical path (target <= 1.10)",
              f"   wall {f['wall_s']:.1f} s; critical path {f['critical_path_lab']:.0f} lab s = {crit_wall:.1f} wall s "
              f"(ratio {f['wall_s'] / crit_wall:.2f}; aim 1.10)" if crit_wall else "   no simulated work found",
              f"   the same tasks as the lab ran them (ticks included): {f['tasks_actual_lab']:.0f} lab s"
              + (f"; tasks of unknown phases (actual length used): {f['unknown_tasks']}" if f["unknown_tasks"] else "")]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", type=int, default=None, help="the lab's address block (127.N.0.0/16 ..)")
    parser.add_argument("--api-interval", type=float, default=0.25, help="monitor: seconds between API probes")
    parser.add_argument("--keep", action="store_true", help="keep the lab's folder (printed) for a look")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures there")
    parser.add_argument("--time-factor", type=float, default=None,
                        help="the lab's wall s per lab s (default the lab's 0.001); slower labs weigh the "
                             "runbook's own latency less against the simulated work")
    args = parser.parse_args()
    lock = None
    if args.prefix is None:
        from fuellab import prefixes

        args.prefix, lock = prefixes.claim()
    try:
        measured = measure(args.prefix, args.api_interval, args.keep, args.time_factor)
    finally:
        if lock is not None:
            lock.close()
    found = figures(measured)
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in found.items() if k != "tail"}, indent=1, default=str))
    print(render(found))
    if args.keep:
        print(f"\nlab kept in {measured['lab_dir']}")
    return 0 if found["stages_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
