"""Fixtures shared by the project's own tests: a running lab per test session.

Each pytest process (or xdist worker) starts its own lab in a temporary
directory on its own address block (127.<prefix>...), so labs never collide
with each other or with a developer's `.lab/`. Tests that change the world
use `lab` (restored to the pristine snapshot first); read-only tests may use
`shared_lab` to skip the restore.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.labkit import LabHandle, start_lab


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw") or 0)


@pytest.fixture(scope="session")
def session_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    base = tmp_path_factory.mktemp("lab")
    # python-fuelclient must never write ~/.config; it reads its settings at first import.
    os.environ["XDG_CONFIG_HOME"] = str(base / "xdg")
    prefix = 100 + 10 * _worker_index()
    handle = start_lab(base / "lab", prefix=prefix)
    os.environ["FUELCLIENT_CUSTOM_SETTINGS"] = str(handle.dir / "fuel_client.yaml")
    handle.snapshot("pristine")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def lab(session_lab: LabHandle) -> LabHandle:
    """The session's lab, restored to its pristine state: the test may change anything."""
    session_lab.restore("pristine")
    return session_lab


@pytest.fixture
def shared_lab(session_lab: LabHandle) -> LabHandle:
    """The session's lab as the previous test left it: for tests that only read."""
    return session_lab


@pytest.fixture
def lab_dir(lab: LabHandle) -> Path:
    return lab.dir
