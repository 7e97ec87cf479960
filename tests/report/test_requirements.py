"""The requirement list (runbook/report/requirements.yaml) against the stage tests that exist: every
requirement names stage tests that exist, and every stage test proves some requirement, so a new
stage test must be placed in the compliance report. Plus the check patterns' own rules."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.report import requirements as reqs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stage_tests() -> list[str]:
    """Every stage test's node id, as pytest collects runbook/stages (no lab needed to collect)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "runbook/stages", "--collect-only", "-q",
                           "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    found = [line for line in proc.stdout.splitlines() if line.startswith("runbook/stages/") and "::" in line]
    assert proc.returncode == 0 and found, proc.stdout[-2000:] + proc.stderr[-2000:]
    return found


@pytest.fixture(scope="module")
def requirements() -> list[reqs.Requirement]:
    return reqs.load()


def test_every_check_names_an_existing_stage_test(requirements, stage_tests) -> None:
    dangling = [f"{r.id}: {check}" for r in requirements for check in r.checks
                if not any(reqs.matches(check, test) for test in stage_tests)]
    assert not dangling, f"checks that name no stage test (renamed or removed?): {dangling}"


def test_every_stage_test_is_placed_in_a_requirement(requirements, stage_tests) -> None:
    unplaced = reqs.unplaced(requirements, stage_tests)
    assert not unplaced, ("stage tests no requirement names: add each to the requirement it proves in "
                          f"runbook/report/requirements.yaml: {unplaced}")


def test_project_tests_named_as_also_exist(requirements) -> None:
    missing = []
    for requirement in requirements:
        for test in requirement.also:
            path, _, name = test.partition("::")
            source = ROOT / path
            if not source.is_file() or not re.search(rf"^def {re.escape(name)}\(", source.read_text(), re.MULTILINE):
                missing.append(f"{requirement.id}: {test}")
    assert not missing, f"`also` names tests that do not exist: {missing}"


def test_the_spec_is_covered(requirements) -> None:
    """The spec's requirement kinds are all there: each stage's expected state, the functional and
    non-functional requirements and the performance targets."""
    ids = {r.id for r in requirements}
    assert {f"S{n}" for n in range(8)} <= {i.split("-")[0] for i in ids}
    assert {"F-VM", "F-DB", "F-VOLUME", "F-CEPH-NO-MOVE", "F-SERVERS", "N-SECRETS", "N-TIMEOUTS", "P-VM-OUTAGE",
            "P-API"} <= ids


@pytest.mark.parametrize(("check", "nodeid", "expected"), [
    ("runbook/stages/stage0_preflight.py::test_precondition",
     "runbook/stages/stage0_preflight.py::test_precondition[free_nodes]", True),
    ("runbook/stages/stage0_preflight.py::test_precondition[free_nodes]",
     "runbook/stages/stage0_preflight.py::test_precondition[free_nodes]", True),
    ("runbook/stages/stage0_preflight.py::test_precondition[free_nodes]",
     "runbook/stages/stage0_preflight.py::test_precondition[f]", False),  # brackets are literal
    ("runbook/stages/stage0_preflight.py::test_baseline",
     "runbook/stages/stage0_preflight.py::test_baseline_cloud", False),  # no prefix match
    ("runbook/stages/stage*.py::test_completed", "runbook/stages/stage3_upgrade_db.py::test_completed", True),
    ("runbook/stages/stage*.py::test_completed", "runbook/stages/stage3_upgrade_db.py::test_completed_x", False),
])
def test_check_patterns(check: str, nodeid: str, expected: bool) -> None:
    assert reqs.matches(check, nodeid) is expected


def test_malformed_requirements_are_refused_with_the_fix(tmp_path: Path) -> None:
    from runbook.errors import ReportError

    path = tmp_path / "r.yaml"
    path.write_text("requirements:\n- {id: A, title: t, source: s, checks: []}\n")
    with pytest.raises(ReportError, match="names no check") as caught:
        reqs.load(path)
    assert caught.value.fix
    path.write_text("requirements:\n- {id: A, title: t, source: s, checks: [x]}\n"
                    "- {id: A, title: t, source: s, checks: [y]}\n")
    with pytest.raises(ReportError, match="ids used twice: A"):
        reqs.load(path)
