"""The Upgrade CI job (ci/): the script fails, with its reports, when a stage fails; it is sound shell;
the job definitions call it and publish what it writes. (Its success path is the whole upgrade:
tests/e2e runs it once, not here.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "ci" / "upgrade-ci.sh"


def run_job(out: Path, prefix: int, *lab_options: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OCTANE_CI_REPORT": "0"}  # the HTML reports have their own tests
    return subprocess.run([str(SCRIPT), "--out", str(out), "--prefix", str(prefix), "--", *lab_options],
                          cwd="/", env=env, capture_output=True, text=True, timeout=timeout)


def outcomes(xml: Path) -> dict[str, str]:
    found = {}
    for case in ET.parse(xml).iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found[f"{case.get('classname')}::{case.get('name')}"] = kinds[0] if kinds else "passed"
    return found


def test_the_job_fails_when_preflight_fails_and_still_leaves_its_reports(tmp_path: Path, spare_prefix: int) -> None:
    """A lab without free nodes for the seed: preflight refuses, nothing after it runs, exit 1; the
    reports, the journal and the lab's ledger are in the output folder; the lab is stopped."""
    out = tmp_path / "out"
    proc = run_job(out, spare_prefix, "--free-nodes", "0")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log
    assert "the upgrade failed (pytest exit 1): no validation run" in log

    seen = outcomes(out / "junit-upgrade.xml")
    failed = {t for t, kind in seen.items() if kind == "failure"}
    assert failed and all(t.startswith("runbook.stages.stage0_preflight::") for t in failed), sorted(failed)
    assert "runbook.stages.stage0_preflight::test_precondition[free_nodes]" in failed
    later = {t: kind for t, kind in seen.items() if not t.startswith("runbook.stages.stage0_")}
    assert later and set(later.values()) == {"skipped"}  # no later stage acted
    assert not (out / "junit-validate.xml").exists()

    assert (out / "allure-results").is_dir() and any((out / "allure-results").iterdir())
    assert "octane prepare --env 1" in (out / "plan.txt").read_text()
    status = (out / "status.txt").read_text()
    assert "stage0_preflight failed at step 'check free_nodes'" in status and "next: octane" in status
    assert '"lost_writes": 0' in (out / "lab-ledger.json").read_text()
    assert (out / "env-1-journal.json").stat().st_mode & 0o077 == 0  # as private as the journal

    lab_dirs = [line.split(" in ", 1)[1].split(" (prefix")[0] for line in log.splitlines()
                if "starting a fresh lab in" in line]
    assert lab_dirs and not Path(lab_dirs[0]).exists()  # the temporary lab is gone (stopped first)


def test_the_script_refuses_bad_usage(tmp_path: Path) -> None:
    proc = subprocess.run([str(SCRIPT), "--prefix", "x"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "not a number" in proc.stderr
    (tmp_path / "lab" / "old").mkdir(parents=True)
    proc = subprocess.run([str(SCRIPT), "--lab-dir", str(tmp_path / "lab")], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2 and "needs a fresh lab" in proc.stderr


def test_the_script_is_sound_shell() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (bash -n passed)")
    proc = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_the_job_definitions_run_the_script_and_publish_its_reports() -> None:
    jenkins = (ROOT / "ci" / "Jenkinsfile").read_text()
    assert "ci/upgrade-ci.sh" in jenkins and "junit testResults: 'ci-output/junit-*.xml'" in jenkins
    assert "changeRequest target: 'stable/.+'" in jenkins and "publishHTML" in jenkins
    zuul = yaml.safe_load((ROOT / "ci" / "zuul.yaml").read_text())
    job = next(item["job"] for item in zuul if "job" in item)
    assert job["branches"] == "^stable/.*$"
    for playbook in (job["run"], job["post-run"]):
        assert (ROOT / playbook).is_file(), playbook
    run = yaml.safe_load((ROOT / job["run"]).read_text())
    assert any("ci/upgrade-ci.sh" in str(task) for play in run for task in play["tasks"])
    project = next(item["project"] for item in zuul if "project" in item)
    assert job["name"] in project["check"]["jobs"] and job["name"] in project["gate"]["jobs"]
