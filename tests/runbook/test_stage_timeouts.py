"""A stage is never cut by the project's suite-wide pytest-timeout (pytest.ini): its action takes
what the hardware takes and each of its waits has its own deadline. An operator's `--timeout` or
PYTEST_TIMEOUT still applies. Checked on the collected stage tests (no lab needed to collect)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = '''
import json, os

def pytest_collection_finish(session):
    found = {}
    for item in session.items:
        marker = item.get_closest_marker("timeout")
        found[item.nodeid] = marker.args[0] if marker is not None else None
    with open(os.environ["TIMEOUT_PROBE_OUT"], "w") as handle:
        json.dump(found, handle)
'''


def _stage_timeouts(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, float | None]:
    (tmp_path / "timeout_probe.py").write_text(PROBE)
    out = tmp_path / "found.json"
    environ = {k: v for k, v in os.environ.items() if k != "PYTEST_TIMEOUT"}
    environ.update(PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}", TIMEOUT_PROBE_OUT=str(out), **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "pytest", "runbook/stages/stage1_prepare.py", "--collect-only", "-q",
                           "-p", "timeout_probe", *args], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_stage_tests_run_without_the_suites_timeout(tmp_path: Path) -> None:
    found = _stage_timeouts(tmp_path)
    assert len(found) > 3 and set(found.values()) == {0}, found


@pytest.mark.parametrize(("args", "env"), [(("--timeout", "7200"), None), ((), {"PYTEST_TIMEOUT": "7200"})])
def test_an_operators_own_timeout_still_applies(tmp_path: Path, args: tuple[str, ...],
                                                env: dict[str, str] | None) -> None:
    found = _stage_timeouts(tmp_path, *args, env=env)
    assert found and set(found.values()) == {None}, "no marker: pytest-timeout takes the operator's value"
