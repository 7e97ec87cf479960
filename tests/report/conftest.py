"""One small real run shared by the report tests: stages 0 and 1 on the session's lab, with the
workload monitor on and Allure results, then `octane report` as an operator types it.

Session-scoped and in one xdist group (`reports`), so `make test` pays for it once: about
20 s (the two stages, the monitor's first VM probes, Java's start for Allure).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from runbook.monitor.settings import paths_for
from runbook.monitor.store import read_events
from tests import conftest as lab_fixtures
from tests.labkit import LabHandle
from tests.sabotage import harness

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 240.0
VM_PROBE_WAIT = 10.0  # seconds: the monitor finds the VMs in the baseline within its 2 s check


@dataclass(frozen=True)
class Built:
    lab: LabHandle
    reports: Path
    output: str  # what `octane report` printed


def _run_stages(lab: LabHandle, reports: Path) -> None:
    argv = harness.stage_argv(lab, reports / "junit.xml", "runbook/stages", "-k", "stage0 or stage1",
                              f"--alluredir={reports / 'allure-results'}")
    env = {**harness.stage_env(lab), "OCTANE_NO_MONITOR": "0"}  # tests/conftest turns it off for everyone else
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def _wait_for_vm_probes(lab: LabHandle) -> None:
    """Until the monitor recorded a VM's state (it reads the baseline stage 0 wrote), bounded."""
    events = paths_for(lab.dir / "journal", 1).events
    deadline = time.monotonic() + VM_PROBE_WAIT
    while time.monotonic() < deadline:
        if any(e.get("e") == "vm" for e in read_events(events)):
            return
        time.sleep(0.25)


def _pristine(lab: LabHandle) -> None:
    """The session's lab as tests/conftest.py's `lab` leaves it: no monitor, pristine, no journal."""
    lab_fixtures.stop_monitors(lab.dir)
    lab.restore("pristine")
    shutil.rmtree(lab.dir / "journal", ignore_errors=True)


@pytest.fixture(scope="session")
def built_reports(session_lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The reports of the run, built once; the lab is pristine again when this returns (the
    reports are files: what the tests read of the lab afterwards, its secrets, never changes)."""
    lab = session_lab
    reports = tmp_path_factory.mktemp("reports")
    _pristine(lab)
    try:
        try:
            _run_stages(lab, reports)
            _wait_for_vm_probes(lab)
        finally:
            lab_fixtures.stop_monitors(lab.dir)
        proc = subprocess.run([sys.executable, "-m", "runbook.cli", "--target", str(lab.dir / "target.yaml"),
                               "report", "--reports", str(reports)], cwd="/", capture_output=True, text=True,
                              timeout=RUN_TIMEOUT)
    finally:
        _pristine(lab)
        lab_fixtures._changed_since_restore["value"] = False
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Built(lab, reports, proc.stdout)
