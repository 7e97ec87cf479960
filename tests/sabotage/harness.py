"""Running stages the way an operator does, on labs brought to the state a stage starts from.

Stages run as subprocesses (`python -m pytest runbook/stages/... --target <lab>`);
their JUnit XML tells each test's outcome. A stage N sabotage needs a lab on
which stages 0..N-1 completed: `before(lab, N)` runs them once per test session,
saves that state as a checkpoint (the lab's snapshot plus the journal folder,
which lives beside the lab and holds the baseline and the dumps), and rewinds
to it on every later call.

A sabotage is a scene (a function that breaks a lab and names the env ids to
run against) and optionally an altered action: a pytest plugin module under
`tests.sabotage.alter` loaded into the stage's run with `-p`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.labkit import LabHandle

ROOT = Path(__file__).resolve().parents[2]
STAGES_DIR = "runbook/stages"
STAGE_TIMEOUT = 240.0
STAGE_FILES = {int(p.name[5]): f"{STAGES_DIR}/{p.name}" for p in sorted((ROOT / STAGES_DIR).glob("stage[0-9]_*.py"))}


def stage_of(test: str) -> int:
    """The stage number of a stage test id (`runbook/stages/stage3_upgrade_db.py::test_x` -> 3)."""
    found = re.search(r"/stage(\d+)_", test)
    assert found, f"{test} is not a stage test"
    return int(found.group(1))


@dataclass(frozen=True)
class Sabotage:
    scene: Callable[[LabHandle], dict[str, int]]
    env: str  # which env of the scene the stage runs against
    what: str
    alter: str | None = None  # a module of tests.sabotage.alter that changes the action


# --------------------------------------------------------------------------- running stages


def stage_argv(lab: LabHandle, xml: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *args, "--target", str(lab.dir / "target.yaml"),
            "-p", "no:cacheprovider", "-q", f"--junitxml={xml}"]


def stage_env(lab: LabHandle) -> dict[str, str]:
    return {**os.environ, "OCTANE_TARGET": str(lab.dir / "target.yaml")}


def outcomes(xml: Path) -> dict[str, str]:
    """node id -> passed | failed | error | skipped, from a JUnit XML report."""
    if not xml.exists():
        return {}
    out = {}
    for case in ET.parse(xml).iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        out[f"{module}::{case.get('name')}"] = kinds[0].replace("failure", "failed") if kinds else "passed"
    return out


def skip_reasons(xml: Path) -> dict[str, str]:
    """node id -> the reason of each skipped test, from a JUnit XML report."""
    out = {}
    for case in ET.parse(xml).iter("testcase"):
        for child in case:
            if child.tag == "skipped":
                module = case.get("classname", "").replace(".", "/") + ".py"
                out[f"{module}::{case.get('name')}"] = child.get("message", "")
    return out


def run(lab: LabHandle, xml: Path, *args: str, timeout: float = STAGE_TIMEOUT) -> tuple[int, dict[str, str], str]:
    """Run pytest on stages; (exit status, outcomes, the end of its output)."""
    proc = subprocess.run(stage_argv(lab, xml, *args), cwd=ROOT, env=stage_env(lab), capture_output=True,
                          text=True, timeout=timeout)
    return proc.returncode, outcomes(xml), proc.stdout[-4000:] + proc.stderr[-2000:]


def start(lab: LabHandle, xml: Path, *args: str) -> subprocess.Popen[str]:
    """The same as `run`, in the background (several envs of one scene side by side)."""
    return subprocess.Popen(stage_argv(lab, xml, *args), cwd=ROOT, env=stage_env(lab), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


# --------------------------------------------------------------------------- moves shared by scenes


def turn_on_debug(lab: LabHandle, env: int = 1) -> None:
    """Someone changes a setting of the env behind the upgrade's back (OpenStack debug logging)."""
    from tests.lab.fuelhttp import FuelHTTP

    fuel = FuelHTTP(lab)
    attrs = fuel.get(f"clusters/{env}/attributes")
    attrs["editable"]["common"]["debug"]["value"] = True
    fuel.call("PUT", f"clusters/{env}/attributes?force=1", {"editable": attrs["editable"]})


# --------------------------------------------------------------------------- checkpoints


def journal_dir(lab: LabHandle) -> Path:
    return Path(lab.target["journal_dir"])


def checkpoint(lab: LabHandle, name: str) -> None:
    lab.snapshot(name)
    saved = lab.dir / "snapshots" / name / "journal"
    shutil.rmtree(saved, ignore_errors=True)
    if journal_dir(lab).exists():
        shutil.copytree(journal_dir(lab), saved)


def rewind(lab: LabHandle, name: str) -> None:
    """Back to a checkpoint (or "pristine": the lab as created, no journal)."""
    lab.restore(name)
    shutil.rmtree(journal_dir(lab), ignore_errors=True)
    saved = lab.dir / "snapshots" / name / "journal"
    if saved.exists():
        shutil.copytree(saved, journal_dir(lab))


_made: set[str] = set()


def before(lab: LabHandle, stage: int, work: Path) -> None:
    """Bring the lab to the state stage `stage` starts from: stages 0..stage-1 done on env 1."""
    name = f"before-stage{stage}"
    if name in _made:
        rewind(lab, name)
        return
    if stage == 0:
        rewind(lab, "pristine")
    else:
        before(lab, stage - 1, work)
        xml = work / f"{name}.xml"
        status, seen, output = run(lab, xml, STAGE_FILES[stage - 1])
        assert status == 0 and seen and set(seen.values()) == {"passed"}, \
            f"stage{stage - 1} did not pass on the pristine lab:\n{output}"
    checkpoint(lab, name)
    _made.add(name)
