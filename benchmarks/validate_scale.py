"""`--validate-only` at scale: how long re-checking a done upgrade takes on 50, 200 and 500 nodes.

DESIGN §5 aims at "`--validate-only` over a 500-node lab within 60 s on 2 cores, growing linearly".
For each size asked (`--computes N`: the default scenario with N computes, so N + 9 nodes: 3
controllers, 3 OSD nodes, 3 free nodes), on a fresh lab in a temporary folder (its own address
block: `--prefix`, else one claimed from fuellab.prefixes):

1. `fuellab up --detach --computes N`;
2. the upgrade's stages `--stages` (default 0-5) in one pytest session, as an operator runs them
   (`pytest runbook/stages -k "stage0 or ..." --target ...`; `--timeout=0`: stage 5's waits and
   checks take minutes at 500 nodes). Stage 6 (upgrade-node) is left out by default: at 200
   computes its action alone took 20 minutes (RESULTS.md, stage6_scale.py), at 491 it would take
   about an hour, and its tests reuse stage 5's readers, which stages 0-5 already exercise;
3. `pytest runbook/stages -k <the same stages> --validate-only --target ...` (the stages never
   run would only error with "nothing to validate"), timed: the session's wall time, and from
   its JUnit XML each test's time (setup, call and teardown: module fixtures count in the first
   test that needs them), summed per stage, and the slowest tests;
4. with `--profile`, the same validation once more under cProfile (`python -m cProfile -o`), and
   the functions with the most cumulative time in the runbook (not the benchmark's own);
5. `fuellab down`, the folder deleted (unless `--keep`).

The workload monitor the stages start (runbook.fixtures.monitor) is stopped before the validations
(`octane monitor stop`): nothing acts then, and its probes would load the machine.

Printed: per size the wall seconds, seconds per node, per stage; at the size nearest 500 nodes
the ratio to the 60 s aim; between consecutive sizes the growth (seconds per added node) and
the least-squares slope over all sizes, with each size's distance from that line (linearity).

    .venv/bin/python benchmarks/validate_scale.py [--computes 41 191 491] [--stages 0-5] [--prefix N]
        [--profile] [--keep] [--validate-runs 1]

The arithmetic (per-stage sums, growth, slope, ratio) is unit tested in
tests/runbook/test_validate_scale.py; the runs themselves are not part of `make test`.
"""

from __future__ import annotations

import argparse
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FUELLAB = [sys.executable, "-m", "fuellab.cli"]
PYTEST = [sys.executable, "-m", "pytest"]
STAGE_ARGS = ["runbook/stages", "-p", "no:cacheprovider", "-q", "--timeout=0"]
OTHER_NODES = 9  # the default scenario: 3 controllers, 3 OSD nodes, 3 free nodes besides the computes
AIM_S, AIM_NODES = 60.0, 500
UPGRADE_TIMEOUT = 7200.0


# --------------------------------------------------------------------------- pure computations


@dataclass(frozen=True)
class TestTime:
    stage: str
    name: str
    seconds: float
    outcome: str  # passed, failed, error, skipped


@dataclass
class Size:
    computes: int
    nodes: int
    up_s: float = 0.0
    act_s: float = 0.0
    act_status: int = 0
    wall_s: list[float] = field(default_factory=list)  # each validation run's wall seconds
    status: int = 0
    tests: list[TestTime] = field(default_factory=list)
    profile: list[tuple[str, float, int]] = field(default_factory=list)

    @property
    def best_s(self) -> float:
        return min(self.wall_s)


def stage_expression(spec: str) -> str:
    """`-k` expression of a stage range or list: "0-5" -> "stage0 or stage1 ... or stage5"; "0,2,5" too."""
    numbers: list[int] = []
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        numbers += range(int(low), int(high or low) + 1)
    if not numbers:
        raise ValueError(f"no stage in {spec!r}")
    return " or ".join(f"stage{n}" for n in sorted(set(numbers)))


def junit_tests(xml_text: str) -> list[TestTime]:
    """Each test case of a pytest JUnit XML: its stage module (the classname's last part), name,
    seconds and outcome."""
    tests = []
    for case in ET.fromstring(xml_text).iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
        stage = case.get("classname", "").rsplit(".", 1)[-1]
        tests.append(TestTime(stage, case.get("name", ""), float(case.get("time", 0) or 0), outcome))
    return tests


def per_stage(tests: list[TestTime]) -> dict[str, float]:
    """Seconds per stage module, in stage order."""
    sums: dict[str, float] = {}
    for test in sorted(tests, key=lambda t: t.stage):
        sums[test.stage] = sums.get(test.stage, 0.0) + test.seconds
    return sums


def outcomes(tests: list[TestTime]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for test in tests:
        counts[test.outcome] = counts.get(test.outcome, 0) + 1
    return counts


def growth(points: list[tuple[int, float]]) -> list[float]:
    """Seconds per added node between consecutive (nodes, seconds) points, in node order."""
    ordered = sorted(points)
    return [(s2 - s1) / (n2 - n1) for (n1, s1), (n2, s2) in zip(ordered, ordered[1:], strict=False) if n2 != n1]


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares line through (nodes, seconds): (seconds per node, seconds at 0 nodes)."""
    n = len(points)
    if n < 2:
        raise ValueError("a line needs two sizes")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        raise ValueError("a line needs two different sizes")
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return slope, my - slope * mx


def aim_point(points: list[tuple[int, float]], aim_nodes: int = AIM_NODES) -> tuple[int, float]:
    """The measured size nearest the aim's node count."""
    return min(points, key=lambda p: (abs(p[0] - aim_nodes), -p[0]))


# --------------------------------------------------------------------------- the runs


def fuellab(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FUELLAB, *args], check=True, capture_output=True, text=True, timeout=timeout)


def run_stages(target: Path, expression: str, extra: list[str], timeout: float,
               python: list[str] | None = None) -> tuple[int, float, str]:
    argv = [*(python or PYTEST), *STAGE_ARGS, "-k", expression, "--target", str(target), *extra]
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, time.perf_counter() - started, proc.stdout[-4000:] + proc.stderr[-2000:]


def stop_monitor(target: Path) -> None:
    subprocess.run([sys.executable, "-m", "runbook.cli", "--target", str(target), "monitor", "stop"],
                   cwd=ROOT, capture_output=True, timeout=120)


def profiled(path: Path, limit: int = 25) -> list[tuple[str, float, int]]:
    """The runbook's functions with the most cumulative time in a cProfile dump: (where, s, calls)."""
    stats = pstats.Stats(str(path))
    rows = []
    for (filename, line, name), (_, calls, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "/runbook/" in filename and "/runbook/stages/conftest" not in filename:
            rows.append((f"{Path(filename).relative_to(ROOT)}:{line} {name}", cumulative, calls))
    return sorted(rows, key=lambda r: -r[1])[:limit]


def measure(computes: int, prefix: int, expression: str, runs: int, profile: bool, keep: bool) -> Size:
    base = Path(tempfile.mkdtemp(prefix=f"validate-scale-{computes}-"))
    lab = base / "lab"
    target = lab / "target.yaml"
    size = Size(computes, computes + OTHER_NODES)
    try:
        started = time.perf_counter()
        fuellab("up", "--detach", "--dir", str(lab), "--prefix", str(prefix), "--computes", str(computes))
        size.up_s = time.perf_counter() - started
        size.act_status, size.act_s, tail = run_stages(target, expression, [], UPGRADE_TIMEOUT)
        stop_monitor(target)  # the stages started the workload monitor; validation does not need it
        print(f"[{computes} computes] lab up {size.up_s:.1f} s, stages acted in {size.act_s:.0f} s "
              f"(exit {size.act_status})", flush=True)
        if size.act_status != 0:
            print(tail, flush=True)
        for run in range(runs):
            xml = base / f"validate-{run}.xml"
            size.status, wall, tail = run_stages(target, expression, ["--validate-only", f"--junitxml={xml}"],
                                                 UPGRADE_TIMEOUT)
            size.wall_s.append(wall)
            size.tests = junit_tests(xml.read_text())
            print(f"[{computes} computes] --validate-only run {run + 1}: {wall:.1f} s (exit {size.status}, "
                  f"{outcomes(size.tests)})", flush=True)
            if size.status != 0:
                print(tail, flush=True)
        if profile:
            dump = base / "validate.prof"
            run_stages(target, expression, ["--validate-only"], UPGRADE_TIMEOUT,
                       python=[sys.executable, "-m", "cProfile", "-o", str(dump), "-m", "pytest"])
            size.profile = profiled(dump)
        return size
    finally:
        subprocess.run([*FUELLAB, "down", "--dir", str(lab)], capture_output=True, timeout=300)
        if keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def report(sizes: list[Size], expression: str) -> None:
    print(f"\nstages: {expression}; --validate-only wall seconds (best of the runs), aim {AIM_S:g} s at "
          f"{AIM_NODES} nodes")
    stages = sorted({t.stage for s in sizes for t in s.tests})
    print("| computes | nodes | lab up s | stages acted s | validate wall s | s per node | "
          + " | ".join(stages) + " | tests |")
    print("|---:|---:|---:|---:|---:|---:|" + "---:|" * len(stages) + "---|")
    for s in sizes:
        sums = per_stage(s.tests)
        print(f"| {s.computes} | {s.nodes} | {s.up_s:.1f} | {s.act_s:.0f} | {s.best_s:.1f} | {s.best_s / s.nodes:.3f} | "
              + " | ".join(f"{sums.get(st, 0.0):.1f}" for st in stages)
              + f" | {', '.join(f'{k} {v}' for k, v in sorted(outcomes(s.tests).items()))} |")
    points = [(s.nodes, s.best_s) for s in sizes]
    nodes, seconds = aim_point(points)
    print(f"at {nodes} nodes: {seconds:.1f} s, ratio to the {AIM_S:g} s aim {seconds / AIM_S:.2f}"
          + (f" (the aim is at {AIM_NODES} nodes)" if nodes != AIM_NODES else ""))
    if len(points) > 1:
        print("growth between sizes, s per added node: "
              + ", ".join(f"{g:.3f}" for g in growth(points)))
        slope, intercept = fit(points)
        print(f"least-squares line: {slope:.3f} s per node + {intercept:.1f} s; residuals "
              + ", ".join(f"{n} nodes {s - (slope * n + intercept):+.1f} s" for n, s in sorted(points)))
    for s in sizes:
        slowest = sorted(s.tests, key=lambda t: -t.seconds)[:10]
        print(f"\nslowest tests at {s.nodes} nodes: "
              + "; ".join(f"{t.stage}::{t.name} {t.seconds:.1f} s" for t in slowest))
        if s.profile:
            print(f"cProfile at {s.nodes} nodes, runbook functions by cumulative s (calls):")
            for where, cumulative, calls in s.profile:
                print(f"  {cumulative:8.1f}  {calls:7d}  {where}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--computes", type=int, nargs="+", default=[41, 191, 491])
    parser.add_argument("--stages", default="0-5", help="stages to run then validate (default 0-5)")
    parser.add_argument("--prefix", type=int, help="address block (default: one claimed from fuellab.prefixes)")
    parser.add_argument("--validate-runs", type=int, default=1, help="validations per size; the best counts")
    parser.add_argument("--profile", action="store_true", help="also one validation under cProfile per size")
    parser.add_argument("--keep", action="store_true", help="keep each lab's folder (the lab is stopped)")
    args = parser.parse_args(argv)
    expression = stage_expression(args.stages)
    handle = None
    if args.prefix is None:
        from fuellab import prefixes

        args.prefix, handle = prefixes.claim()
    try:
        sizes = [measure(n, args.prefix, expression, max(1, args.validate_runs), args.profile, args.keep)
                 for n in args.computes]
    finally:
        if handle is not None:
            handle.close()
    report(sizes, expression)
    failed = [s.computes for s in sizes if s.status or s.act_status]
    if failed:
        print(f"runs that did not pass at {failed} computes: their figures are not the aim's")
    nodes, seconds = aim_point([(s.nodes, s.best_s) for s in sizes])
    return 1 if failed or (nodes == AIM_NODES and seconds > AIM_S) else 0


if __name__ == "__main__":
    sys.exit(main())
