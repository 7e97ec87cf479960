"""Stage 0 against the lab: it passes when pristine, and each of its tests fails under its sabotage.

The stage runs as a subprocess (`pytest runbook/stages/... --target <lab>`), exactly as an
operator runs it; its JUnit XML says which tests failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.labkit import LabHandle
from tests.sabotage.table import SCENES, STAGE0, TABLE

ROOT = Path(__file__).resolve().parents[2]
STAGE_TIMEOUT = 120.0


def _stage_argv(lab: LabHandle, xml: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *extra, "--target", str(lab.dir / "target.yaml"),
            "-p", "no:cacheprovider", "-q", f"--junitxml={xml}"]


def _env(lab: LabHandle) -> dict[str, str]:
    return {**os.environ, "OCTANE_TARGET": str(lab.dir / "target.yaml")}


def _outcomes(xml: Path) -> dict[str, str]:
    """node id -> passed | failed | error | skipped, from a JUnit XML report."""
    out = {}
    for case in ET.parse(xml).iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        out[f"{module}::{case.get('name')}"] = kinds[0].replace("failure", "failed") if kinds else "passed"
    return out


def _run_stage(lab: LabHandle, xml: Path, *extra: str) -> tuple[int, dict[str, str], str]:
    proc = subprocess.run(_stage_argv(lab, xml, *extra), cwd=ROOT, env=_env(lab), capture_output=True,
                          text=True, timeout=STAGE_TIMEOUT)
    return proc.returncode, _outcomes(xml), proc.stdout[-3000:] + proc.stderr[-2000:]


def test_table_covers_every_stage_test() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "runbook/stages",
                           "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    collected = {line.strip() for line in proc.stdout.splitlines() if "::" in line}
    stage0 = {t for t in collected if t.startswith(STAGE0)}
    assert stage0, "no stage0 test collected"
    assert collected - set(TABLE) == set(), "stage tests without a sabotage"
    assert set(TABLE) - collected == set(), "sabotages for tests that do not exist"


def test_stage0_passes_on_pristine_lab(lab: LabHandle, tmp_path: Path) -> None:
    status, outcomes, output = _run_stage(lab, tmp_path / "act.xml", "runbook/stages", "-k", "stage0")
    assert status == 0, output
    assert set(outcomes) == set(TABLE) and set(outcomes.values()) == {"passed"}, output
    # --validate-only: the same assertions from what the run recorded, without acting again.
    journal = lab.dir / "journal" / "env-1" / "journal.json"
    acted = journal.stat().st_mtime_ns
    status, outcomes, output = _run_stage(lab, tmp_path / "check.xml", "runbook/stages", "-k", "stage0",
                                          "--validate-only")
    assert status == 0, output
    assert set(outcomes.values()) == {"passed"} and len(outcomes) == len(TABLE), output
    assert journal.stat().st_mtime_ns == acted, "--validate-only wrote the journal"


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_each_stage0_test_fails_under_its_sabotage(lab: LabHandle, tmp_path: Path, scene: str) -> None:
    envs = SCENES[scene](lab)
    wanted = {test: s for test, s in TABLE.items() if s.scene is SCENES[scene]}
    # One stage run per env of the scene, side by side: each env has its own journal.
    runs = {}
    for key in sorted({s.env for s in wanted.values()}):
        xml = tmp_path / f"{key}.xml"
        runs[key] = (xml, subprocess.Popen(_stage_argv(lab, xml, STAGE0, "--env", str(envs[key])), cwd=ROOT,
                                           env=_env(lab), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                           text=True))
    outcomes = {}
    for key, (xml, proc) in runs.items():
        output, _ = proc.communicate(timeout=STAGE_TIMEOUT)
        assert proc.returncode == 1, f"stage run --env {envs[key]} ({key}): exit {proc.returncode}\n{output[-3000:]}"
        outcomes[key] = _outcomes(xml)
    survived = {test: f"{s.what}: {outcomes[s.env].get(test, 'not run')}"
                for test, s in wanted.items() if outcomes[s.env].get(test) != "failed"}
    assert not survived, f"stage tests that did not fail under their sabotage: {survived}"
