"""procedure.prepare against the lab: order, resumption after a fault, revert, workspace refusals."""

from __future__ import annotations

import pytest

from runbook.errors import JournalError
from runbook.journal import DONE, FAILED
from runbook.procedure import preflight, prepare
from tests.runbook.ctxkit import make_ctx


def test_refused_before_preflight(lab) -> None:
    ctx = make_ctx(lab.dir)
    with pytest.raises(JournalError, match="needs stage0_preflight"):
        prepare.run(ctx)
    assert ctx.fuel.env_extensions(1) == ["volume_manager"], "a refused prepare changed the master"


def test_rerun_after_a_fault_continues_without_repeating_done_steps(lab) -> None:
    ctx = make_ctx(lab.dir)
    preflight.run(ctx)
    lab.cli("fault", "add", "--node", "master", "--op", "PUT /api/v1/clusters/1/extensions*", "--kind", "api-5xx",
            "--times", "1")
    with pytest.raises(Exception, match="500"):
        prepare.run(ctx)
    record = ctx.journal.stage_record(prepare.STAGE)
    assert record["status"] == FAILED and record["steps"][prepare.ENABLE]["status"] == FAILED
    reached_at = record["steps"]["reach nodes"]["ended"]

    result = prepare.run(make_ctx(lab.dir))
    record = ctx.journal.stage_record(prepare.STAGE)
    assert record["status"] == DONE and result["enabled"] == ["cluster_upgrade"]
    assert record["steps"]["reach nodes"]["ended"] == reached_at, "a done step ran again"
    assert "cluster_upgrade" in ctx.fuel.env_extensions(1)


def test_revert_disables_exactly_what_prepare_enabled(lab) -> None:
    ctx = make_ctx(lab.dir)
    preflight.run(ctx)
    prepare.run(ctx)
    assert prepare.revert(ctx) == ["cluster_upgrade"]
    assert ctx.fuel.env_extensions(1) == ["volume_manager"]
    prepare.revert(ctx)  # again: nothing left to disable, no error
    assert ctx.fuel.env_extensions(1) == ["volume_manager"]


def test_revert_keeps_an_extension_the_master_already_had(lab) -> None:
    ctx = make_ctx(lab.dir)
    preflight.run(ctx)
    ctx.fuel.enable_extensions(1, ["cluster_upgrade"])
    assert prepare.run(ctx)["enabled"] == []
    assert prepare.revert(ctx) == []
    assert "cluster_upgrade" in ctx.fuel.env_extensions(1)


def test_a_workspace_others_can_read_is_refused_before_the_master_changes(lab) -> None:
    ctx = make_ctx(lab.dir)
    preflight.run(ctx)
    (ctx.journal.folder / prepare.WORKSPACE).mkdir(mode=0o755)
    (ctx.journal.folder / prepare.WORKSPACE).chmod(0o755)
    with pytest.raises(prepare.PrepareError, match="chmod 700") as caught:
        prepare.run(ctx)
    assert "others could read the dumps" in str(caught.value)
    assert ctx.fuel.env_extensions(1) == ["volume_manager"]
