"""Fixtures shared by the project's own tests: a running lab per test session.

Each pytest process (or xdist worker) starts its own lab in a temporary
directory on its own address block (127.<prefix>...), so labs never collide
with each other or with a developer's `.lab/`. Tests that change the world
use `lab` (restored to the pristine snapshot first); tests that only read use
`shared_lab`, which restores only after a `lab` test, so a run of read-only
tests shares one restore.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fuellab import prefixes
from tests.labkit import LabHandle, start_lab

# The stage runs these tests make (subprocesses inherit it) start no workload monitor: a
# detached process per lab would outlive the test. tests/runbook/test_monitor.py starts its own.
os.environ.setdefault("OCTANE_NO_MONITOR", "1")


def _claim_prefix() -> tuple[int, object]:
    """An address block no other test session on this machine is using, held for the session."""
    return prefixes.claim()


@pytest.fixture(scope="session")
def session_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    base = tmp_path_factory.mktemp("lab")
    # python-fuelclient must never write ~/.config; it reads its settings at first import.
    os.environ["XDG_CONFIG_HOME"] = str(base / "xdg")
    prefix, lock = _claim_prefix()
    handle = start_lab(base / "lab", prefix=prefix)
    os.environ["FUELCLIENT_CUSTOM_SETTINGS"] = str(handle.dir / "fuel_client.yaml")
    handle.snapshot("pristine")
    try:
        yield handle
    finally:
        stop_monitors(handle.dir)
        handle.stop()
        lock.close()


def stop_monitors(lab_dir: Path) -> None:
    """Stop any workload monitor probing this lab (its records live in the lab's journal folder)."""
    from runbook.monitor import process

    process.stop_all(lab_dir / "journal")


_changed_since_restore = {"value": False}


@pytest.fixture
def lab(session_lab: LabHandle) -> LabHandle:
    """The session's lab, restored to its pristine state: the test may change anything.

    The runbook's journal (beside the lab, not in its snapshots) goes too: a journal
    that speaks of stages the restored world never saw would mislead the next run."""
    stop_monitors(session_lab.dir)
    session_lab.restore("pristine")
    shutil.rmtree(session_lab.dir / "journal", ignore_errors=True)
    _changed_since_restore["value"] = True
    return session_lab


@pytest.fixture
def shared_lab(session_lab: LabHandle) -> LabHandle:
    """The pristine lab for tests that only read: restored only if a `lab` test ran since."""
    if _changed_since_restore["value"]:
        session_lab.restore("pristine")
        _changed_since_restore["value"] = False
    return session_lab


@pytest.fixture
def lab_dir(lab: LabHandle) -> Path:
    return lab.dir


@pytest.fixture
def spare_prefix() -> Iterator[int]:
    """A second address block, for a test that starts a lab of its own."""
    prefix, lock = _claim_prefix()
    try:
        yield prefix
    finally:
        lock.close()
