"""Stage 6 at scale: the planner's makespan for 200 computes with 15% free capacity.

Builds the capacity model nova's scheduler would see on a 200-compute cloud
made of the lab's compute hardware (24 cores, 128 GB; Fuel's allocation ratios
16 and 1.5, 512 MB reserved; Ceph ephemeral, so no disk limit), each compute
filled with random m1.small/medium/large VMs, then m1.tiny ones, until
`--free` of its RAM is left (to 512 MB), plus `--osd-nodes` Ceph OSD nodes. Then runs runbook.procedure.batches
(the planner upgrade-node journals and follows) and prints, per duration model:

- the plan's makespan, its ratio to the capacity lower bound (aim: <= 1.15);
- one compute at a time (the 7.0 procedure's way) and its ratio to the plan
  (aim: >= 10, an order of magnitude);
- batches, migrations (VMs that move twice count twice), planning time.

Then the same for the lab's own VM mix (`--lab-vms`, the placement `fuellab up
--computes 200 --vms 1000` makes: about 5 VMs per compute, one of them 8 GB,
next to free gaps of 3 GB on average once the RAM ratio leaves 15% free),
printed after the aim's rows and not part of it.

Every plan is replayed move by move (`batches.replay`): a plan that breaks a
rule (a VM where it does not fit, a compute reinstalled with a VM, two OSD
hosts at once, no enabled compute left) fails the benchmark.

Duration models: `lab` uses the lab's durations (provision 600 + deploy 900
lab seconds per batch, 20 per live migration); `hardware` the order of
magnitude of real clouds (an hour per reinstall, a minute per migration).
Migrations: one at a time out of each compute, computes drained in parallel.

    .venv/bin/python benchmarks/stage6_scale.py [--computes 200] [--free 0.15] [--osd-nodes 3] [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runbook.procedure import batches  # noqa: E402 - after the path is set
from runbook.procedure.batches import INF, VM, Compute, Costs, Size  # noqa: E402

# The lab's compute (fuellab.scenarios): 24 cores, 128 GB; nova's ratios and reserve (Fuel's defaults).
CPU_RATIO, RAM_RATIO, RESERVED_MB = 16.0, 1.5, 512
CAPACITY = Size(24 * CPU_RATIO, 131072 * RAM_RATIO - RESERVED_MB, INF)
FLAVORS = {"m1.small": Size(1, 2048, 20), "m1.medium": Size(2, 4096, 40), "m1.large": Size(4, 8192, 80)}
TINY = Size(1, 512, 1)  # m1.tiny tops each compute up to exactly its share
MODELS = {"lab": Costs(reinstall_s=600 + 900, migration_s=20), "hardware": Costs(reinstall_s=3600, migration_s=60)}
AIM_BOUND, AIM_BASELINE = 1.15, 10.0


def cloud(computes: int, free: float, seed: int) -> list[Compute]:
    """Computes filled with random VMs until `free` of each one's RAM is left (after stage 5: Kilo)."""
    rnd = random.Random(seed)
    out = []
    for index in range(computes):
        name, vms, used = f"node-{index + 10}", [], 0.0
        while True:
            flavor = rnd.choice(sorted(FLAVORS))
            size = FLAVORS[flavor]
            if used + size.ram_mb > CAPACITY.ram_mb * (1 - free):
                break
            vms.append(VM(f"{name}-vm{len(vms)}", size, flavor))
            used += size.ram_mb
        while used + TINY.ram_mb <= CAPACITY.ram_mb * (1 - free):
            vms.append(VM(f"{name}-vm{len(vms)}", TINY, "m1.tiny"))
            used += TINY.ram_mb
        out.append(Compute(name, CAPACITY, tuple(vms), "kilo"))
    return out


LAB_CYCLE = ("m1.small", "m1.medium", "m1.small", "m1.large", "m1.tiny")  # fuellab.content's flavors


def lab_cloud(computes: int, free: float, seed: int, vms: int) -> list[Compute]:
    """The lab's own placement (`fuellab up --computes N --vms M`: flavors cycling, each VM on the
    compute with the most free RAM), with the RAM allocation ratio lowered until `free` of the
    cloud's RAM is left: few, big VMs per compute next to small free gaps (the seed's nova.conf
    gets that ratio when the real procedure is run on such a lab)."""
    sizes = {**FLAVORS, "m1.tiny": TINY}
    left = {i: 131072 * RAM_RATIO - RESERVED_MB for i in range(computes)}
    placed: dict[int, list[VM]] = {i: [] for i in range(computes)}
    for n in range(vms):
        flavor = LAB_CYCLE[n % len(LAB_CYCLE)]
        host = max(left, key=lambda i: (left[i], -i))
        left[host] -= sizes[flavor].ram_mb
        placed[host].append(VM(f"vm-{n}", sizes[flavor], flavor))
    used = sum(v.size.ram_mb for vs in placed.values() for v in vs)
    ratio = (used / (1 - free) + RESERVED_MB * computes) / (131072 * computes)
    capacity = Size(CAPACITY.vcpus, 131072 * ratio - RESERVED_MB, INF)
    return [Compute(f"node-{i + 10}", capacity, tuple(v), "kilo") for i, v in placed.items()]


def run(computes: int, free: float, osd_nodes: int, seed: int, mix: str = "random",
        vms: int = 0) -> list[dict[str, object]]:
    model = cloud(computes, free, seed) if mix == "random" else lab_cloud(computes, free, seed, vms)
    osd = [f"osd-{i}" for i in range(1, osd_nodes + 1)]
    used = batches.total(c.used for c in model)
    room = batches.total(c.capacity for c in model)
    rows = []
    for label, costs in MODELS.items():
        started = time.perf_counter()
        plan = batches.plan(model, osd, costs)
        seconds = time.perf_counter() - started
        problems = batches.replay(model, osd, plan.batches)
        if problems:
            raise SystemExit(f"seed {seed}, {label}: the plan breaks rules: {problems[:5]}")
        rows.append({
            "seed": seed if mix == "random" else f"lab mix ({vms} VMs)", "model": label,
            "vms": sum(len(c.vms) for c in model),
            "free": 1 - used.ram_mb / room.ram_mb, "batches": len(plan.batches),
            "sizes": [len(b.computes) for b in plan.batches], "schedule": plan.schedule,
            "migrations": plan.migrations, "makespan_h": plan.duration_s / 3600,
            "bound_h": plan.lower_bound_s / 3600, "ratio_bound": plan.duration_s / plan.lower_bound_s,
            "one_h": (plan.one_at_a_time_s or 0) / 3600,
            "ratio_one": (plan.one_at_a_time_s or 0) / plan.duration_s, "plan_s": seconds,
            "capacity_batch": batches.capacity_batch_size(model),
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--computes", type=int, default=200)
    parser.add_argument("--free", type=float, default=0.15, help="free share of each compute's RAM (default 0.15)")
    parser.add_argument("--osd-nodes", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--lab-vms", type=int, default=1000,
                        help="also the lab's own mix with this many VMs (0: not)")
    args = parser.parse_args(argv)
    rows = [row for seed in args.seeds for row in run(args.computes, args.free, args.osd_nodes, seed)]
    extra = run(args.computes, args.free, args.osd_nodes, 0, "lab", args.lab_vms) if args.lab_vms else []
    print(f"{args.computes} computes, {args.free:.0%} free RAM per compute, {args.osd_nodes} OSD nodes")
    print("| seed | model | VMs | free | batches (computes each) | migrations | makespan h | bound h | "
          f"makespan/bound (aim <= {AIM_BOUND}) | one at a time h | one/makespan (aim >= {AIM_BASELINE:g}) | plan s |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    worst_bound, worst_one = 0.0, INF
    for r in rows:
        print(f"| {r['seed']} | {r['model']} | {r['vms']} | {r['free']:.1%} | {r['batches']} "
              f"({', '.join(map(str, r['sizes']))}) | {r['migrations']} | {r['makespan_h']:.2f} | "
              f"{r['bound_h']:.2f} | {r['ratio_bound']:.3f} | {r['one_h']:.1f} | {r['ratio_one']:.1f} | "
              f"{r['plan_s']:.1f} |")
        worst_bound = max(worst_bound, float(r["ratio_bound"]))  # type: ignore[arg-type]
        worst_one = min(worst_one, float(r["ratio_one"]))  # type: ignore[arg-type]
    for r in extra:
        print(f"| {r['seed']} | {r['model']} | {r['vms']} | {r['free']:.1%} | {r['batches']} "
              f"({', '.join(map(str, r['sizes']))}) | {r['migrations']} | {r['makespan_h']:.2f} | "
              f"{r['bound_h']:.2f} | {r['ratio_bound']:.3f} | {r['one_h']:.1f} | {r['ratio_one']:.1f} | "
              f"{r['plan_s']:.1f} |")
    print(f"worst makespan/bound {worst_bound:.3f} (aim <= {AIM_BOUND}: ratio to aim {worst_bound / AIM_BOUND:.2f}); "
          f"worst one-at-a-time/makespan {worst_one:.1f} (aim >= {AIM_BASELINE:g}: ratio to aim "
          f"{worst_one / AIM_BASELINE:.2f})")
    return 0 if worst_bound <= AIM_BOUND and worst_one >= AIM_BASELINE else 1


if __name__ == "__main__":
    sys.exit(main())
