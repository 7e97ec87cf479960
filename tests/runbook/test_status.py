"""`octane status` (runbook.commands.status) on journals written for the purpose: no lab. The table,
each failure with its fix, the exact next command, the plan beside what ran; plain text in a pipe."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from runbook.cli import COMMANDS, UsageError
from runbook.commands import status

T = "2025-01-01T10:{:02d}:00.000+00:00".format
SPEC = {**COMMANDS, "cleanup-env": (("stage7_cleanup",), "seed"), "cleanup-fuel": (("stage7_cleanup",), None)}


def record(state: str, start: int, end: int | None, steps: dict[str, Any] | None = None,
           error: str | None = None) -> dict[str, Any]:
    return {"status": state, "started": T(start), "ended": T(end) if end is not None else None, "inputs": {},
            "error": error, "steps": steps or {"work": {"status": "done", "started": T(start),
                                                        "ended": T(end if end is not None else start),
                                                        "result": None, "evidence": [], "error": None}}}


DONE_TO_2 = {"stage0_preflight": record("done", 0, 1), "stage1_prepare": record("done", 1, 2),
             "stage2_upgrade_env": record("done", 2, 9)}


@pytest.mark.parametrize(("stages", "expected"), [
    ({}, "octane prepare --env 1"),
    ({"stage0_preflight": record("done", 0, 1)}, "octane prepare --env 1"),
    ({**DONE_TO_2}, "octane upgrade-db 2"),
    ({**DONE_TO_2, "stage3_upgrade_db": record("failed", 9, 10, error="UpgradeDbError: x — fix x")},
     "octane upgrade-db 2"),
    ({**DONE_TO_2, "stage3_upgrade_db": record("running", 9, None)}, "octane upgrade-db 2"),
    ({**DONE_TO_2, **{s: record("done", 10, 11) for s in ("stage3_upgrade_db", "stage4_upgrade_ceph",
                                                           "stage5_upgrade_control", "stage6_upgrade_nodes")},
      "stage7_cleanup": record("failed", 12, 13, error="CleanupPending: cleanup-env is done; stage 7 completes "
                               "with cleanup-fuel — run `octane cleanup-fuel` when the seed env is accepted")},
     "octane cleanup-fuel"),
    ({**DONE_TO_2, **{s: record("done", 10, 11) for s in ("stage3_upgrade_db", "stage4_upgrade_ceph",
                                                           "stage5_upgrade_control", "stage6_upgrade_nodes",
                                                           "stage7_cleanup")}}, "done"),
])
def test_the_next_command_follows_the_spec_order(stages: dict[str, Any], expected: str) -> None:
    command, why = status.next_command(stages, {"seed_env_id": 2} if stages else {}, 1, SPEC)
    assert command == expected
    if any(r["status"] == "failed" for r in stages.values()):
        assert why  # says why this command, and that done steps are not repeated


def _target(tmp_path: Path, stages: dict[str, Any], facts: dict[str, Any]) -> argparse.Namespace:
    folder = tmp_path / "journal" / "env-1"
    folder.mkdir(parents=True)
    (folder / "journal.json").write_text(json.dumps({"env_id": 1, "created": T(0), "facts": facts,
                                                     "stages": stages}))
    return argparse.Namespace(journal_dir=tmp_path / "journal", env=1)


def _run(args: argparse.Namespace, target: argparse.Namespace, monkeypatch: pytest.MonkeyPatch) -> str:
    out = io.StringIO()  # not a terminal, as in a CI log
    monkeypatch.setattr("sys.stdout", out)
    assert status.run(args, target) == 0
    return out.getvalue()


def test_a_failed_stage_shows_its_step_its_fix_and_the_command_to_run_again(tmp_path, monkeypatch) -> None:
    steps = {"maintenance on": {"status": "done", "started": T(9), "ended": T(10), "result": None, "evidence": [],
                                "error": None},
             "dump": {"status": "failed", "started": T(10), "ended": T(12), "result": None, "evidence": [],
                      "error": "UpgradeDbError: rows changed on node-1 while the dump was taken — stop the "
                               "writers, then re-run"}}
    stages = {**DONE_TO_2, "stage3_upgrade_db": record("failed", 9, 12, steps, error=steps["dump"]["error"])}
    first = {"made": "2025-01-01T09:00:00+00:00", "seed_controllers": ["node-10", "node-11", "node-12"],
             "window_s": 600.0, "batches": [["node-4", "node-7"]],
             "stages": [{"stage": s, "estimate_s": 60.0} for s in ("stage0_preflight", "stage1_prepare",
                                                                  "stage2_upgrade_env", "stage3_upgrade_db")]}
    target = _target(tmp_path, stages, {"seed_env_id": 2, "seed_controllers": ["node-10", "node-11", "node-12"],
                                        "upgrade_plan": first})
    text = _run(argparse.Namespace(env=None, target="t.yaml"), target, monkeypatch)
    assert "\x1b[" not in text and "\r" not in text
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("stage3_upgrade_db "))
    assert row.split()[:2] == ["stage3_upgrade_db", "failed"] and row.rstrip().endswith("dump")
    assert "3.0 min" not in row and "3 min" in row  # from its first step to its last
    assert "stage3_upgrade_db failed at step 'dump': UpgradeDbError: rows changed on node-1 while the dump " \
           "was taken" in text
    assert "  fix: stop the writers, then re-run" in lines
    assert "next: octane --target t.yaml upgrade-db 2  (stage3_upgrade_db failed: run the same command again" in text
    assert "seed controllers: planned node-10 node-11 node-12; used node-10 node-11 node-12 (as planned)" in text
    assert next(line for line in lines if line.startswith("stage2_upgrade_env ") and "~1 min" in line)


def test_a_seed_id_or_an_env_without_journal_is_refused(tmp_path, monkeypatch) -> None:
    target = _target(tmp_path, DONE_TO_2, {"seed_env_id": 2})
    with pytest.raises(UsageError, match="env 2 is the seed of env 1's upgrade"):
        _run(argparse.Namespace(env=2, target=None), target, monkeypatch)
    with pytest.raises(UsageError, match="no upgrade of env 5 is recorded"):
        _run(argparse.Namespace(env=5, target=None), target, monkeypatch)
