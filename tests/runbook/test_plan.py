"""`octane plan` (runbook.procedure.plan, runbook.commands.plan): the estimate's arithmetic and the
comparison with what ran (pure), then once on the lab: the plan names the nodes and batches, is
journaled (the first one kept), and changes nothing in the cloud (the lab's state and ledger)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runbook.cli import COMMANDS
from runbook.journal import Journal
from runbook.procedure import batches, plan
from runbook.procedure.batches import INF, VM, Compute, Size
from tests.lab.cloudkit import wait_for
from tests.labkit import LabHandle

ROOT = Path(__file__).resolve().parents[2]
BIG = Size(384, 196096, INF)


# --------------------------------------------------------------------------- arithmetic


def small_cloud() -> tuple[list[Compute], list[str]]:
    vms = [VM(f"vm{i}", Size(2, 4096, 40)) for i in range(4)]
    return ([Compute("node-4", BIG, tuple(vms[:1])), Compute("node-5", BIG, tuple(vms[1:3])),
             Compute("node-6", BIG, tuple(vms[3:]))], ["node-7", "node-8"])


def test_each_stage_estimate_follows_what_it_moves() -> None:
    rates = plan.Rates()  # 20 MB/s; 2 min per schema sync; 1 h per reinstall
    raw = plan.raw_estimates(rates, db_bytes=200_000_000, services=6, computes=20, planned=None)
    assert raw["stage0_preflight"] == rates.checks_s + 2 * 10  # dump + test-restore of 200 MB
    assert raw["stage3_upgrade_db"] == rates.maintenance_s + 3 * 10 + 6 * rates.sync_s  # + the restore
    assert raw["stage2_upgrade_env"] == rates.seed_setup_s + 3600
    assert raw["stage5_upgrade_control"] == rates.switch_s + 3 * rates.compute_s  # 20 computes, 8 at a time
    assert raw["stage6_upgrade_nodes"] == 0.0  # no batches known


def test_stage_6_is_the_planners_batches_costed_with_the_rates() -> None:
    computes, osd = small_cloud()
    made = batches.plan(computes, osd, batches.Costs())
    assert plan.stage6_seconds(made.to_dict(), plan.Rates()) == pytest.approx(made.duration_s)
    fast = plan.Rates(reinstall_s=100, migration_s=10)
    expected = sum(batches.drain_seconds(b.moves, batches.Costs(reinstall_s=100, migration_s=10)) + 100
                   for b in made.batches)
    assert plan.stage6_seconds(made.to_dict(), fast) == pytest.approx(expected)


def test_calibration_is_actual_over_estimated_for_the_stages_done() -> None:
    assert plan.calibration({}, {"stage0_preflight": 100.0}) is None
    assert plan.calibration({"stage0_preflight": 2.0, "stage1_prepare": 1.0},
                            {"stage0_preflight": 200.0, "stage1_prepare": 100.0, "stage2": 5000.0}) == 0.01


def test_the_plans_commands_are_octanes() -> None:
    """Every spec command octane has runs the stages the plan says it does."""
    by_stage = {stage: [c.split()[0] for c in cmds] for stage, cmds in plan.STAGES}
    for command, (stages, _) in COMMANDS.items():
        for stage in stages:
            assert command in by_stage[stage], (command, stage)
    assert plan.commands("stage3_upgrade_db", 1, None) == ["octane upgrade-db SEED"]
    assert plan.commands("stage7_cleanup", 1, 2) == ["octane cleanup-env 2", "octane cleanup-fuel"]


def _journal(folder: Path, stages: dict[str, Any], facts: dict[str, Any]) -> Journal:
    (folder / "env-1").mkdir(parents=True)
    (folder / "env-1" / "journal.json").write_text(json.dumps({"env_id": 1, "created": "x", "facts": facts,
                                                               "stages": stages}))
    return Journal.open(folder, 1)


def _done(start: str, end: str, steps: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"status": "done", "started": start, "ended": end, "inputs": {}, "error": None, "steps": steps or {}}


def _step(start: str, end: str, status: str = "done") -> dict[str, Any]:
    return {"status": status, "started": start, "ended": end, "result": None, "evidence": [], "error": None}


def test_the_first_plan_beside_what_ran(tmp_path: Path) -> None:
    t = "2025-01-01T10:{:02d}:00+00:00".format
    stages = {
        "stage2_upgrade_env": _done(t(30), t(31), {"clone": _step(t(1), t(3))}),  # re-run: its steps say 2 min
        "stage3_upgrade_db": _done(t(10), t(12)),
        "stage4_upgrade_ceph": _done(t(12), t(13)),
        "stage5_upgrade_control": _done(t(13), t(20)),
        "stage6_upgrade_nodes": {**_done(t(20), t(40)), "steps": {
            "batch 1 [node-4 node-7]: reassign": _step(t(21), t(22)),
            "batch 1 [node-4 node-7]: deploy": _step(t(22), t(25)),
            "batch 2 [node-5 node-6 node-8]: reassign": _step(t(30), t(31)),
            "batch 3 [node-9]: reassign": _step(t(35), t(35), status="failed")}},
    }
    journal = _journal(tmp_path, stages, {"seed_controllers": ["node-11", "node-10", "node-12"]})
    first = {"made": "then", "seed_controllers": ["node-10", "node-11", "node-12"], "window_s": 300.0,
             "batches": [["node-4", "node-7"], ["node-5", "node-6", "node-8"], ["node-9"]],
             "stages": [{"stage": s, "estimate_s": 60.0} for s, _ in plan.STAGES]}
    found = plan.compare(first, journal)
    assert found["seed_controllers"] == {"planned": ["node-10", "node-11", "node-12"],
                                         "used": ["node-10", "node-11", "node-12"], "same": True}
    assert found["batches"]["ran"] == [["node-4", "node-7"], ["node-5", "node-6", "node-8"]]  # batch 3 failed
    assert found["batches"]["same"]  # as planned so far
    assert found["window"]["seconds"] == 10 * 60  # upgrade-db's start to upgrade-control's end
    actual = {row["stage"]: row["actual_s"] for row in found["stages"]}
    assert actual["stage2_upgrade_env"] == 120 and actual["stage4_upgrade_ceph"] == 60
    assert actual["stage0_preflight"] is None

    first["batches"] = [["node-5", "node-7"], ["node-4", "node-6", "node-8"], ["node-9"]]
    assert not plan.compare(first, journal)["batches"]["same"]


# --------------------------------------------------------------------------- on the lab


def octane(lab: LabHandle, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runbook.cli", "--target", str(lab.dir / "target.yaml"), *args],
                          cwd="/", capture_output=True, text=True, timeout=180)


def world(lab: LabHandle) -> dict[str, Any]:
    """What a plan must not change: nodes, envs, faults, and the ledger but for the tenant's own writes."""
    status = lab.status()
    ledger = lab.inspect()
    ledger["other_events"] = ledger.pop("events") - ledger["tenant_writes"]
    ledger = {k: v for k, v in ledger.items() if not k.startswith("tenant_writes")}  # the tenant writes on
    return {"nodes": status["nodes"], "clusters": status["clusters"], "faults": status["faults"],
            "conflicts": status["ip_conflicts"], "ledger": ledger}


@pytest.fixture
def planned_lab(lab: LabHandle) -> Iterator[LabHandle]:
    """The pristine lab; the journal the plans write is removed after (read-only tests share the lab)."""
    yield lab
    shutil.rmtree(lab.dir / "journal", ignore_errors=True)


def test_octane_plan_names_nodes_and_batches_keeps_the_first_and_changes_nothing(planned_lab: LabHandle) -> None:
    lab = planned_lab
    # The tenant's writer restarts with the restored lab (its first write notes "writes accepted" in the
    # ledger); once it wrote, it records nothing but its writes by itself.
    restored = lab.inspect()["tenant_writes"]
    wait_for(lambda: lab.inspect()["tenant_writes"] > restored + 1, "the tenant writing after the restore")
    before = world(lab)
    proc = octane(lab, "plan", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "octane upgrade-env 1" in out and "octane upgrade-db SEED" in out and "octane cleanup-fuel" in out
    assert "node-10 node-11 node-12: provisioned and deployed" in out
    assert "batch 1:" in out and "API write window" in out and "\x1b[" not in out  # no colour in a pipe
    after = world(lab)
    assert after == before, {k: (before["ledger"].get(k), v) for k, v in after["ledger"].items()
                             if before["ledger"].get(k) != v}

    facts = json.loads((lab.dir / "journal" / "env-1" / "journal.json").read_text())["facts"]
    first = facts[plan.FIRST_FACT]
    assert first["seed_controllers"] == ["node-10", "node-11", "node-12"]
    moved = [n for batch in first["batches"] for n in batch]
    assert sorted(moved) == sorted(f"node-{i}" for i in range(4, 10)) and len(moved) == 6  # each once
    assert first["stage6"]["source"] == "the original's API" and first["db"]["bytes"] > 0
    rows = {r["stage"]: r["estimate_s"] for r in first["stages"]}
    assert first["window_s"] == pytest.approx(sum(rows[s] for s in plan.WINDOW), abs=0.01)
    assert all(r["status"] == "pending" for r in first["stages"]) and not first["warnings"]

    again = octane(lab, "plan", "1", "--scale", "0.001")
    assert again.returncode == 0, again.stderr
    facts = json.loads((lab.dir / "journal" / "env-1" / "journal.json").read_text())["facts"]
    assert facts[plan.FIRST_FACT] == first  # the first plan is kept for the comparison
    assert facts[plan.LATEST_FACT]["total_s"] == pytest.approx(first["total_s"] * 0.001, rel=0.01)
    assert "the first plan, made" in again.stdout


@pytest.mark.parametrize(("args", "said"), [(("plan", "99"), "env 99 does not exist"),
                                            (("plan", "1", "--scale", "0"), "rates must be positive")])
def test_bad_plan_arguments_exit_2(shared_lab: LabHandle, args: tuple[str, ...], said: str) -> None:
    proc = octane(shared_lab, *args)
    assert proc.returncode == 2 and said in proc.stderr, proc.stderr
