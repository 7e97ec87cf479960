"""Stage 7's two spec commands on a lab where stages 0..6 completed: `octane cleanup-fuel` is refused
(exit 2, nothing done) before `octane cleanup-env SEED`; cleanup-env alone leaves the stage not done,
saying that cleanup-fuel completes it; cleanup-fuel then completes it.

Parametrised by stage 7 so that, under xdist, it runs on the worker that builds the late checkpoints
(tests/sabotage/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.labkit import LabHandle
from tests.sabotage import harness

SEED = 2  # the seed env stage 2 creates on the default scenario


def octane(lab: LabHandle, reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runbook.cli", "--target", str(lab.dir / "target.yaml"),
                           "--reports", str(reports), *args], cwd=harness.ROOT, env=harness.stage_env(lab),
                          capture_output=True, text=True, timeout=harness.STAGE_TIMEOUT)


def stage7(lab: LabHandle) -> dict:
    journal = json.loads((harness.journal_dir(lab) / "env-1" / "journal.json").read_text())
    return journal["stages"].get("stage7_cleanup", {})


@pytest.mark.parametrize("stage", [7], ids=["stage7"])
def test_cleanup_env_then_cleanup_fuel(lab: LabHandle, tmp_path: Path, stage: int) -> None:
    harness.before(lab, stage, tmp_path)
    refused = octane(lab, tmp_path, "cleanup-fuel")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"run `octane cleanup-env {SEED}` first" in refused.stderr
    assert stage7(lab) == {}

    env = octane(lab, tmp_path, "cleanup-env", str(SEED))
    assert env.returncode == 0, env.stdout[-3000:] + env.stderr
    record = stage7(lab)
    assert record["status"] == "failed" and "CleanupPending" in record["error"], record["error"]
    assert "octane cleanup-fuel" in record["error"]
    assert all(s["status"] == "done" for s in record["steps"].values()), record["steps"]
    assert {name.split(":")[0] for name in record["steps"]} == {"env"}

    fuel = octane(lab, tmp_path, "cleanup-fuel")
    assert fuel.returncode == 0, fuel.stdout[-3000:] + fuel.stderr
    assert "skipped" not in fuel.stdout.strip().splitlines()[-1], fuel.stdout[-3000:]  # both halves' tests ran
    record = stage7(lab)
    assert record["status"] == "done" and {name.split(":")[0] for name in record["steps"]} == {"env", "fuel"}
