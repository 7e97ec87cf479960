"""Per-VM outage of the whole upgrade with the control-plane switch run in real time.

upgrade_workload.py measures the whole upgrade at the lab's default speed, where one lab second is
one wall millisecond: there the switch-over of stage 5 (a handful of SSH rounds and journal writes
one after the other, none of which has a lab duration) costs ~180 lab s of outage per VM, because
the runbook's own latency is multiplied by 1000 like everything the lab simulates. This benchmark
separates the two: on a fresh lab in a temporary folder it runs

1. stages 0-4 at the default speed (nothing in them touches the data plane),
2. stage 5 with the lab stopped and restarted at `--factor` wall s per lab s (default 1: lab time is
   wall time, so SSH and the journal cost what they would on hardware, while the simulated parts keep
   their lab durations),
3. stages 6-7 at the default speed again (their outages are the simulated migration pauses, which
   keep their lab length at any speed),

stops the monitor and the lab after each part and reads the lab's ledger (world.db): every
`vm_outage` in lab seconds, per part and summed per VM over the whole upgrade (target: max per VM
<= 1 lab s), VMs rebooted and left unreachable (target 0). The lab is down between parts, and lab
time stands still while it is (no outage is recorded for it).

`--sweep 1,0.1,0.01,0.001` instead runs parts 1 and 2 on a fresh lab per factor and prints stage 5's
outage at each: it grows as 1/factor when it is the runbook's latency, and stays put when it is a
simulated duration.

    .venv/bin/python benchmarks/cut_outage.py [--prefix N] [--factor 1] [--sweep F,F,...] [--keep]

The arithmetic (per-VM sums per part) is upgrade_workload.outage_figures, unit tested there; this
file is not part of `make test` (one run takes about a minute and a half).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.upgrade_workload import FUELLAB, fuellab, outage_figures, read_world  # noqa: E402

AIM_OUTAGE_LAB_S = 1.0
DEFAULT_FACTOR = 0.001
PART_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Part:
    name: str
    select: str  # pytest -k expression over the stage modules
    factor: float | None  # None: the lab's default speed


def parts(factor: float, whole: bool) -> list[Part]:
    first = [Part("stages 0-4", "stage0 or stage1 or stage2 or stage3 or stage4", None),
             Part("stage 5", "stage5", factor)]
    return first + [Part("stages 6-7", "stage6 or stage7", None)] if whole else first


def run_part(lab_dir: Path, part: Part) -> dict[str, Any]:
    """Start the lab at the part's speed, run its stage modules, stop the monitor and the lab."""
    from runbook import monitor
    from runbook.config import load_target

    fuellab("up", "--detach", "--dir", str(lab_dir), "--time-factor", str(part.factor or DEFAULT_FACTOR))
    argv = [sys.executable, "-m", "pytest", "runbook/stages", "-p", "no:cacheprovider", "-q", "-k", part.select,
            "--target", str(lab_dir / "target.yaml")]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=PART_TIMEOUT)
    wall = time.monotonic() - started
    monitor.stop(load_target(lab_dir / "target.yaml"))  # it would count the lab's downtime as outage
    from fuellab.client import ControlClient

    inspect = ControlClient(lab_dir).get("/inspect")
    fuellab("down", "--dir", str(lab_dir))
    return {"status": proc.returncode, "wall_s": wall, "inspect": inspect,
            "tail": proc.stdout[-2000:] + proc.stderr[-1000:] if proc.returncode else ""}


def measure(prefix: int, plan: list[Part], keep: bool) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="cut-outage-"))
    lab_dir = base / "lab"
    try:
        fuellab("up", "--detach", "--dir", str(lab_dir), "--prefix", str(prefix))
        fuellab("down", "--dir", str(lab_dir))
        results, outages, seen = [], [], 0
        for part in plan:
            result = run_part(lab_dir, part)
            ledger = read_world(lab_dir)["ledger"]
            events = [e for e in ledger[seen:] if e["kind"] == "vm_outage"]
            seen = len(ledger)
            outages += [{"vm": e["vm"], "seconds": float(e["seconds"]), "stage": part.name, "step": None}
                        for e in events]
            results.append({"part": part, **result})
            if result["status"]:
                break
        vms = results[-1]["inspect"]["vm_outage_s"]
        return {"parts": results, "outage": outage_figures(outages, vms), "inspect": results[-1]["inspect"]}
    finally:
        subprocess.run([*FUELLAB, "down", "--dir", str(lab_dir)], capture_output=True, timeout=120)
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


def render(measured: dict[str, Any]) -> str:
    o = measured["outage"]
    lines = [f"{'part':<12}{'factor':>8}{'wall s':>9}{'stages':>10}{'VMs out':>9}{'max/VM lab s':>14}"
             f"{'total lab s':>13}"]
    for r in measured["parts"]:
        row = o["by_stage"].get(r["part"].name, {"vms": 0, "max_per_vm": 0.0, "total": 0.0})
        lines.append(f"{r['part'].name:<12}{r['part'].factor or DEFAULT_FACTOR:>8}{r['wall_s']:>9.1f}"
                     f"{'passed' if r['status'] == 0 else 'FAILED':>10}{row['vms']:>9}{row['max_per_vm']:>14.3f}"
                     f"{row['total']:>13.3f}")
        if r["tail"]:
            lines.append(r["tail"])
    inspect = measured["inspect"]
    lines += [f"max per-VM outage over the parts run: {o['max_per_vm']:.3f} lab s "
              f"(target {AIM_OUTAGE_LAB_S} lab s, ratio {o['max_per_vm'] / AIM_OUTAGE_LAB_S:.2f})",
              f"VMs rebooted {inspect['vms_rebooted']}, unreachable at the end {len(inspect['vms_unreachable'])} "
              f"(target 0)"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", type=int, help="the lab's address block (default: one claimed)")
    parser.add_argument("--factor", type=float, default=1.0, help="wall s per lab s for stage 5 (default 1)")
    parser.add_argument("--sweep", help="comma-separated factors: stage 5's outage at each, on a fresh lab each")
    parser.add_argument("--keep", action="store_true", help="keep the temporary lab folders")
    args = parser.parse_args()
    lock = None
    if args.prefix is None:
        from fuellab.prefixes import claim

        args.prefix, lock = claim()
    try:
        if args.sweep:
            for factor in (float(f) for f in args.sweep.split(",")):
                print(f"== stage 5 at {factor} wall s per lab s", flush=True)
                print(render(measure(args.prefix, parts(factor, whole=False), args.keep)), flush=True)
            return 0
        measured = measure(args.prefix, parts(args.factor, whole=True), args.keep)
        print(render(measured))
        return 0 if all(r["status"] == 0 for r in measured["parts"]) else 1
    finally:
        if lock is not None:
            lock.close()


if __name__ == "__main__":
    sys.exit(main())
