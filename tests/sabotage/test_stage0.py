"""Stage 0 against the lab: it passes when pristine, and each of its tests fails under its sabotage.

The stage runs as a subprocess (`pytest runbook/stages/... --target <lab>`), exactly as an
operator runs it; its JUnit XML says which tests failed. The table check covers every stage;
the sabotage runs of every stage, this one included, are in test_stages.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.labkit import LabHandle
from tests.sabotage import catalog, harness
from tests.sabotage.harness import ROOT
from tests.sabotage.table import STAGE0, TABLE


def test_table_covers_every_stage_test() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "runbook/stages",
                           "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    collected = {line.strip() for line in proc.stdout.splitlines() if "::" in line}
    stage0 = {t for t in collected if t.startswith(STAGE0)}
    assert stage0, "no stage0 test collected"
    assert collected - set(catalog.TABLE) == set(), "stage tests without a sabotage"
    assert set(catalog.TABLE) - collected == set(), "sabotages for tests that do not exist"


def test_stage0_passes_on_pristine_lab(lab: LabHandle, tmp_path: Path) -> None:
    status, outcomes, output = harness.run(lab, tmp_path / "act.xml", "runbook/stages", "-k", "stage0")
    assert status == 0, output
    assert set(outcomes) == set(TABLE) and set(outcomes.values()) == {"passed"}, output
    # --validate-only: the same assertions from what the run recorded, without acting again.
    journal = harness.journal_dir(lab) / "env-1" / "journal.json"
    acted = journal.stat().st_mtime_ns
    status, outcomes, output = harness.run(lab, tmp_path / "check.xml", "runbook/stages", "-k", "stage0",
                                           "--validate-only")
    assert status == 0, output
    assert set(outcomes.values()) == {"passed"} and len(outcomes) == len(TABLE), output
    assert journal.stat().st_mtime_ns == acted, "--validate-only wrote the journal"
