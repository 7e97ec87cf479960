"""`octane` as an operator types it: spec commands run their stages; bad arguments exit 2 and
change nothing; a failed stage exits 1 and the same command continues it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.labkit import LabHandle

ROOT = Path(__file__).resolve().parents[2]


def octane(lab: LabHandle, *args: str, reports: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runbook.cli", "--target", str(lab.dir / "target.yaml"),
                           "--reports", str(reports), *args], cwd="/", capture_output=True, text=True, timeout=240)


def _journal(lab: LabHandle) -> dict:
    path = lab.dir / "journal" / "env-1" / "journal.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.mark.parametrize(("args", "said"), [
    (("upgrade-env", "99"), "env 99 does not exist"),
    (("upgrade-env", "1", "4"), "4 (node-4: env 1, ready)"),
    (("upgrade-env", "1", "10", "77"), "77 (no such node)"),
    (("upgrade-db", "1"), "env 1 is not the seed of any upgrade"),
    (("upgrade-db", "42"), "env 42 does not exist"),
    (("validate",), "no stage has run for env 1"),
    (("cleanup-env", "1"), "env 1 is not the seed of any upgrade"),
    (("cleanup-fuel",), "cleanup-env has not completed for env 1"),
])
def test_bad_arguments_exit_2_naming_the_problem_and_change_nothing(shared_lab, tmp_path, args, said) -> None:
    before = _journal(shared_lab)
    proc = octane(shared_lab, *args, reports=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert said in proc.stderr and " — " in proc.stderr, proc.stderr  # the problem, then the fix
    assert _journal(shared_lab) == before


def test_prepare_fails_with_1_then_the_same_command_continues(lab, tmp_path) -> None:
    lab.cli("fault", "add", "--node", "node-12", "--op", "ssh", "--kind", "ssh-drop")
    proc = octane(lab, "prepare", reports=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert _journal(lab)["stages"]["stage1_prepare"]["status"] == "failed"
    assert (tmp_path / "junit-prepare.xml").exists() and (tmp_path / "allure-results").is_dir()

    lab.cli("fault", "clear")
    proc = octane(lab, "prepare", reports=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = octane(lab, "status", reports=tmp_path)
    assert status.returncode == 0
    rows = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines() if line[:5] == "stage" and line[5].isdigit()}
    assert rows == {"stage0_preflight": "done", "stage1_prepare": "done"}, status.stdout
    assert f"next: octane --target {lab.dir / 'target.yaml'} upgrade-env 1" in status.stdout
    proc = octane(lab, "validate", reports=tmp_path)
    assert proc.returncode == 0 and "passed" in proc.stdout, proc.stdout + proc.stderr
