"""The stage 6 planner (runbook.procedure.batches), pure logic: no lab.

Every plan is replayed move by move (`batches.replay`): no VM lands where it does not fit or on an
older nova-compute, no compute is reinstalled with a VM on it, one enabled compute always stays, one
OSD host per batch, every node reinstalled once.
"""

from __future__ import annotations

import random

import pytest

from runbook.procedure import batches
from runbook.procedure.batches import INF, VM, Compute, Costs, PlanError, Size

# The lab's computes: 24 cores x 16, 128 GB x 1.5 less the 512 MB reserve; Ceph ephemeral: no disk limit.
CAPACITY = Size(24 * 16, 131072 * 1.5 - 512, INF)
FLAVORS = {"tiny": Size(1, 512, 1), "small": Size(1, 2048, 20), "medium": Size(2, 4096, 40),
           "large": Size(4, 8192, 80)}
LAB_COSTS = Costs(reinstall_s=1500, migration_s=20)


def vms(host: str, *flavors: str) -> tuple[VM, ...]:
    return tuple(VM(f"{host}-vm{i}", FLAVORS[f], f"{host}-vm{i}") for i, f in enumerate(flavors))


def lab_cloud(release: str = "kilo") -> list[Compute]:
    """The default scenario after stage 5: 3 computes on Kilo nova-compute, 12 VMs."""
    return [Compute("node-4", CAPACITY, vms("node-4", "small", "large", "medium"), release),
            Compute("node-5", CAPACITY, vms("node-5", "medium", "medium", "tiny", "small"), release),
            Compute("node-6", CAPACITY, vms("node-6", "small", "small", "small", "large", "tiny"), release)]


def full_cloud(n: int, free: float, seed: int = 1) -> list[Compute]:
    """`n` computes each filled with random small/medium/large VMs until `free` of its RAM is left."""
    rnd = random.Random(seed)
    out = []
    for h in range(n):
        name, placed, used = f"node-{h + 10}", [], 0.0
        while True:
            size = FLAVORS[rnd.choice(("small", "medium", "large"))]
            if used + size.ram_mb > CAPACITY.ram_mb * (1 - free):
                break
            placed.append(VM(f"{name}-vm{len(placed)}", size))
            used += size.ram_mb
        out.append(Compute(name, CAPACITY, tuple(placed), "kilo"))
    return out


def test_the_lab_plan_keeps_every_rule_and_beats_one_at_a_time() -> None:
    cloud = lab_cloud()
    plan = batches.plan(cloud, ["node-7", "node-8", "node-9"], LAB_COSTS)
    assert batches.replay(cloud, ["node-7", "node-8", "node-9"], plan.batches) == []
    # Three OSD failure domains, one per batch, riding along with the computes: three batches.
    assert [b.osd_nodes for b in plan.batches] == [["node-7"], ["node-8"], ["node-9"]]
    assert sorted(n for b in plan.batches for n in b.computes) == ["node-4", "node-5", "node-6"]
    assert plan.lower_bound_s <= plan.duration_s < plan.one_at_a_time_s
    assert plan.duration_s == sum(b.duration_s for b in plan.batches)
    # The cheapest compute to drain goes first, its VMs onto a compute drained later.
    first = plan.batches[0]
    assert first.computes == ["node-4"] and {m.source for m in first.moves} == {"node-4"}
    assert len(first.moves) == 3


def test_reinstalled_computes_are_the_preferred_targets() -> None:
    cloud = [*lab_cloud(), Compute("node-20", CAPACITY, (), "kilo", upgrade=False, done=True)]
    plan = batches.plan(cloud, [], LAB_COSTS)
    assert batches.replay(cloud, [], plan.batches) == []
    assert {m.target for b in plan.batches for m in b.moves} == {"node-20"}
    assert plan.migrations == 12  # every VM moves once: straight to the reinstalled compute


def test_a_vm_never_moves_to_an_older_nova_compute() -> None:
    # node-5 runs Kilo already; node-6 still Juno with room, node-4 Juno and empty of room.
    tight = Size(16, 8192 + 4096, INF)
    cloud = [Compute("node-5", CAPACITY, vms("node-5", "large"), "kilo"),
             Compute("node-6", CAPACITY, (), "juno", upgrade=False),
             Compute("node-7", tight, vms("node-7", "large"), "kilo", upgrade=False)]
    with pytest.raises(PlanError) as refused:
        batches.plan(cloud, [], LAB_COSTS)
    assert "capacity short" in refused.value.message and "node-5" in refused.value.message
    # A Juno VM may go to the Kilo compute.
    cloud = [Compute("node-5", CAPACITY, vms("node-5", "large"), "juno"),
             Compute("node-7", tight, (), "kilo", upgrade=False)]
    plan = batches.plan(cloud, [], LAB_COSTS)
    assert [(m.source, m.target) for m in plan.batches[0].moves] == [("node-5", "node-7")]


def test_capacity_short_is_refused_with_numbers() -> None:
    small = Size(8, 12288, INF)
    cloud = [Compute("node-4", small, vms("node-4", "large", "medium")),
             Compute("node-5", small, vms("node-5", "large", "medium"))]
    with pytest.raises(PlanError) as refused:
        batches.plan(cloud, [], LAB_COSTS)
    assert "capacity short" in refused.value.message and "RAM" in refused.value.message
    assert "nothing was changed" in refused.value.fix


def test_the_last_enabled_nova_compute_is_refused() -> None:
    with pytest.raises(PlanError) as refused:
        batches.plan([Compute("node-4", CAPACITY, ())], [], LAB_COSTS)
    assert "last enabled nova-compute" in refused.value.message
    # Two computes, one disabled by its operator: the enabled one cannot go either.
    cloud = [Compute("node-4", CAPACITY, (), enabled=False, upgrade=False), Compute("node-5", CAPACITY, ())]
    with pytest.raises(PlanError):
        batches.plan(cloud, [], LAB_COSTS)


def test_one_at_a_time_only_when_nothing_bigger_fits() -> None:
    # Room for one compute's VMs at a time: each holds 3 larges in room for 4.
    room = Size(64, 4 * 8192, INF)
    cloud = [Compute(f"node-{i}", room, vms(f"node-{i}", "large", "large", "large")) for i in range(4, 8)]
    plan = batches.plan(cloud, [], LAB_COSTS)
    assert batches.replay(cloud, [], plan.batches) == []
    assert [len(b.computes) for b in plan.batches] == [1, 1, 1, 1]
    # With room to spare, computes go together.
    roomy = [Compute(c.name, Size(64, 12 * 8192, INF), c.vms) for c in cloud]
    plan = batches.plan(roomy, [], LAB_COSTS)
    assert batches.replay(roomy, [], plan.batches) == [] and len(plan.batches) < 4


def test_osd_nodes_one_failure_domain_per_batch_even_beyond_the_compute_batches() -> None:
    cloud = lab_cloud()
    osd = [f"osd-{i}" for i in range(1, 6)]
    plan = batches.plan(cloud, osd, LAB_COSTS)
    assert batches.replay(cloud, osd, plan.batches) == []
    assert [b.osd_nodes for b in plan.batches] == [[n] for n in osd]
    # A hyperconverged compute is an OSD host too: never two in a batch.
    hyper = [Compute(c.name, c.capacity, c.vms, c.release, osd=True) for c in cloud]
    plan = batches.plan(hyper, ["osd-1"], LAB_COSTS)
    assert batches.replay(hyper, ["osd-1"], plan.batches) == []
    assert all(len(b.osd_nodes) == 1 for b in plan.batches)


def test_disk_counts_where_storage_is_local() -> None:
    def cloud(disk: float) -> list[Compute]:
        room = Size(64, 64 * 1024, disk)
        return [Compute("node-4", room, vms("node-4", "large")),  # 80 GB of disk
                Compute("node-5", room, ()),
                Compute("node-6", room, (VM("big-disk", Size(1, 512, 50)),), upgrade=False)]

    # Shared storage: the large goes to node-6 while node-4 and node-5 reinstall together.
    shared = cloud(INF)
    plan = batches.plan(shared, [], LAB_COSTS)
    assert batches.replay(shared, [], plan.batches) == []
    assert [b.computes for b in plan.batches] == [["node-4", "node-5"]]
    # 100 GB local disks: node-6 has 50 GB left, so the large waits for node-5 to be reinstalled.
    local = cloud(100)
    plan = batches.plan(local, [], LAB_COSTS)
    assert batches.replay(local, [], plan.batches) == []
    assert [b.computes for b in plan.batches] == [["node-5"], ["node-4"]]
    assert [(m.vm, m.target) for m in plan.batches[1].moves] == [("node-4-vm0", "node-5")]


def test_replay_names_what_a_wrong_plan_breaks() -> None:
    cloud = lab_cloud()
    plan = batches.plan(cloud, [], LAB_COSTS)
    wrong = [batches.Batch(["node-4", "node-5", "node-6"], [], [])]
    problems = batches.replay(cloud, [], wrong)
    assert any("no enabled nova-compute left" in p for p in problems)
    assert any("stays on node-4, which is reinstalled" in p for p in problems)
    crammed = [batches.Batch(b.computes, b.osd_nodes, [batches.Move(m.vm, m.name, m.source, "node-6")
                                                       for m in b.moves]) for b in plan.batches]
    assert any("goes to node-6, not an enabled compute outside the batch" in p or "not on" in p
               for p in batches.replay(cloud, [], crammed))


def test_plan_round_trips_through_the_journal_and_restricts_to_a_selection() -> None:
    cloud = lab_cloud()
    plan = batches.plan(cloud, ["node-7"], LAB_COSTS)
    again = batches.Plan.from_dict(plan.to_dict())
    assert again.to_dict() == plan.to_dict()
    cut = batches.restrict(plan, ["node-6", "node-7"])
    assert [n for b in cut for n in b.nodes] == [n for b in plan.batches for n in b.nodes if n in ("node-6", "node-7")]
    assert all(m.source == "node-6" for b in cut for m in b.moves)


def test_moves_are_recomputed_on_the_cloud_as_it_is_and_refused_when_short() -> None:
    cloud = lab_cloud()
    moves = batches.moves_for(cloud, ["node-4", "node-5"])
    assert {m.source for m in moves} == {"node-4", "node-5"} and {m.target for m in moves} == {"node-6"}
    assert len(moves) == 7
    crowded = [cloud[0], cloud[1], Compute("node-6", Size(8, 8192, INF), cloud[2].vms[:1])]
    with pytest.raises(PlanError) as refused:
        batches.moves_for(crowded, ["node-4", "node-5"])
    assert "capacity short for the batch node-4, node-5" in refused.value.message


def test_200_computes_with_15_percent_free_within_115_percent_of_the_bound() -> None:
    """The design's target (benchmarks/stage6_scale.py prints the figures)."""
    cloud = full_cloud(200, 0.15)
    osd = ["osd-1", "osd-2", "osd-3"]
    plan = batches.plan(cloud, osd, Costs())
    assert batches.replay(cloud, osd, plan.batches) == []
    assert plan.duration_s <= 1.15 * plan.lower_bound_s
    assert plan.one_at_a_time_s >= 10 * plan.duration_s
