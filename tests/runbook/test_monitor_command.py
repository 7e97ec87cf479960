"""`octane monitor start|stop|report`: the workload monitor of runbook.monitor under octane's name (its
behaviour is tested in test_monitor.py; here, that the subcommand drives that one monitor)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.labkit import LabHandle


def octane(lab: LabHandle, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runbook.cli", "--target", str(lab.dir / "target.yaml"), *args],
                          cwd="/", capture_output=True, text=True, timeout=120)


def test_octane_monitor_starts_reports_and_stops_the_one_monitor(shared_lab: LabHandle, tmp_path: Path) -> None:
    try:
        started = octane(shared_lab, "monitor", "start")
        assert started.returncode == 0 and "monitor running (pid" in started.stdout, started.stdout + started.stderr
        report = octane(shared_lab, "monitor", "report", "--json", str(tmp_path / "figures.json"))
        assert report.returncode == 0 and "VM outages" in report.stdout, report.stdout + report.stderr
        assert "vms" in json.loads((tmp_path / "figures.json").read_text())
    finally:
        stopped = octane(shared_lab, "monitor", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
