"""Stages against the lab: each stage from 1 on passes on the state its predecessors leave,
validates again without acting and refuses to run before its predecessor; each test of every
stage fails under its sabotage (tests/sabotage/table.py for stage 0, stageN.py after it).

A scene runs the stage once per env it names, side by side (each env has its own journal)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.labkit import LabHandle
from tests.sabotage import catalog, harness
from tests.sabotage.harness import STAGE_FILES

LATER = sorted(n for n in catalog.BY_STAGE if n >= 1 and n in STAGE_FILES)
SCENES = [(n, name) for n in sorted(catalog.BY_STAGE) for name in sorted(catalog.scenes(n))]


@pytest.mark.parametrize("stage", LATER, ids=lambda n: f"stage{n}")
def test_stage_passes_then_validates_without_acting(lab: LabHandle, tmp_path: Path, stage: int) -> None:
    harness.before(lab, stage, tmp_path)
    status, seen, output = harness.run(lab, tmp_path / "act.xml", STAGE_FILES[stage])
    assert status == 0, output
    assert seen and set(seen.values()) == {"passed"}, output
    assert set(seen) == set(catalog.BY_STAGE[stage]), "stage tests and their sabotage table differ"
    journal = harness.journal_dir(lab) / "env-1" / "journal.json"
    acted = journal.stat().st_mtime_ns
    status, again, output = harness.run(lab, tmp_path / "check.xml", STAGE_FILES[stage], "--validate-only")
    assert status == 0 and set(again.values()) == {"passed"} and set(again) == set(seen), output
    assert journal.stat().st_mtime_ns == acted, "--validate-only wrote the journal"


@pytest.mark.parametrize("stage", LATER, ids=lambda n: f"stage{n}")
def test_stage_refuses_before_its_predecessor(lab: LabHandle, tmp_path: Path, stage: int) -> None:
    harness.before(lab, stage - 1, tmp_path)  # the predecessor never ran
    status, seen, output = harness.run(lab, tmp_path / "refused.xml", "runbook/stages", "-k", f"stage{stage}")
    assert status != 0 and seen and set(seen.values()) == {"error"}, output
    previous = Path(STAGE_FILES[stage - 1]).stem
    assert f"needs {previous}" in output, output


@pytest.mark.parametrize(("stage", "scene"), SCENES, ids=[f"stage{n}-{name}" for n, name in SCENES])
def test_each_stage_test_fails_under_its_sabotage(lab: LabHandle, tmp_path: Path, stage: int, scene: str) -> None:
    wanted = catalog.scenes(stage)[scene]
    harness.before(lab, stage, tmp_path)
    envs = next(iter(wanted.values())).scene(lab)
    runs = {}
    for key in sorted({s.env for s in wanted.values()}):
        alters = {s.alter for s in wanted.values() if s.env == key}
        assert len(alters) == 1, f"scene {scene}: one env, one altered action ({alters})"
        alter = alters.pop()
        xml = tmp_path / f"{key}.xml"
        runs[key] = (xml, harness.start(lab, xml, STAGE_FILES[stage], "--env", str(envs[key]),
                                        *(("-p", f"tests.sabotage.alter.{alter}") if alter else ())))
    outcomes = {}
    for key, (xml, proc) in runs.items():
        output, _ = proc.communicate(timeout=harness.STAGE_TIMEOUT)
        assert proc.returncode == 1, f"stage{stage} --env {envs[key]} ({key}): exit {proc.returncode}\n{output[-3000:]}"
        outcomes[key] = harness.outcomes(xml)
    survived = {test: f"{s.what}: {outcomes[s.env].get(test, 'not run')}"
                for test, s in wanted.items() if outcomes[s.env].get(test) != "failed"}
    assert not survived, f"stage tests that did not fail under their sabotage: {survived}"


def test_stages_after_a_failed_one_are_skipped_without_acting(lab: LabHandle, tmp_path: Path) -> None:
    harness.rewind(lab, "pristine")
    status, out, err = lab.run("node-4", "stop nova-compute")  # preflight's services_up refuses
    assert status == 0, out + err
    status, seen, output = harness.run(lab, tmp_path / "run.xml", "runbook/stages", "-k", "stage0 or stage1")
    assert status == 1, output
    stage1 = {test: outcome for test, outcome in seen.items() if test.startswith(STAGE_FILES[1])}
    assert stage1 and set(stage1.values()) == {"skipped"}, output
    journal = (harness.journal_dir(lab) / "env-1" / "journal.json").read_text()
    assert "stage1_prepare" not in journal, "stage1 acted after stage0 failed"


def test_a_superseded_moment_is_skipped_not_failed(lab: LabHandle, tmp_path: Path) -> None:
    """Stage 2's "seed isolated" holds until stage 5 plugs the seed in: once the journal shows
    stage 5 started, validating stage 2 skips that test (and only the marked ones)."""
    harness.before(lab, 3, tmp_path)
    path = harness.journal_dir(lab) / "env-1" / "journal.json"
    data = json.loads(path.read_text())
    data["stages"]["stage5_upgrade_control"] = {"status": "running", "started": None, "ended": None,
                                                "inputs": {}, "error": None, "steps": {}}
    path.write_text(json.dumps(data))
    status, seen, output = harness.run(lab, tmp_path / "v.xml", STAGE_FILES[2], "--validate-only")
    assert status == 0, output
    skipped = harness.skip_reasons(tmp_path / "v.xml")
    assert {t.split("::")[1] for t in skipped} == {"test_seed_isolated", "test_no_ip_conflict"}, skipped
    assert all("stage5_upgrade_control" in reason for reason in skipped.values()), skipped
