"""procedure.preflight against the lab: checks, refusals with their fix, journal evidence, baseline."""

from __future__ import annotations

import stat

import pytest

from runbook.errors import PreflightError
from runbook.journal import DONE, FAILED
from runbook.lib import db
from runbook.procedure import preflight
from runbook.procedure.context import Context
from tests.runbook.ctxkit import make_ctx

_ctx = make_ctx


def _state(ctx: Context) -> tuple:
    """What preflight must not change: Fuel's envs and nodes, and the rows of services that see no
    background traffic in the lab (its workload keeps adding nova key pairs and keystone tokens)."""
    return ctx.fuel.envs(), ctx.fuel.nodes(), {s: db.row_counts(ctx.pool, "node-1", s)
                                               for s in ("cinder", "glance", "heat", "neutron")}


def test_checks_come_from_core_and_plugins() -> None:
    names = [c.name for c in preflight.checks()]
    assert len(names) == len(set(names))
    assert {"release_pair", "master_version", "env_release", "not_in_upgrade",  # path 6.1 -> 7.0
            "ceph_storage", "ceph_health", "neutron_vlan"} <= set(names)
    assert names[0] == "release_pair" and names[-1] == "db_backup"


def test_pristine_lab_passes_and_baseline_is_private(shared_lab) -> None:
    ctx = _ctx(shared_lab.dir)
    before = _state(ctx)
    data = preflight.run(ctx)
    assert _state(ctx) == before
    assert ctx.journal.stage_status(preflight.STAGE) == DONE
    path = preflight.baseline_path(ctx)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert preflight.recorded_baseline(ctx) == data
    assert data["ceph"]["osd_ids"] == [0, 1, 2, 3, 4, 5]
    step = ctx.journal._data["stages"][preflight.STAGE]["steps"]["check galera_synced"]
    assert step["status"] == DONE and "Synced" in step["evidence"][0]["text"]


def test_wrong_env_is_refused_listing_the_envs_and_nothing_changes(shared_lab) -> None:
    ctx = _ctx(shared_lab.dir, env_id=42)
    before = _state(ctx)
    with pytest.raises(PreflightError) as caught:
        preflight.run(ctx)
    assert "env 42 does not exist" in str(caught.value) and "1 (prod, 6.1, operational)" in str(caught.value)
    assert caught.value.fix
    assert _state(ctx) == before
    assert ctx.journal.stage_status(preflight.STAGE) == FAILED
    assert not preflight.baseline_path(ctx).exists()
    results = preflight.recorded_results(ctx)
    assert not results["env_exists"]["ok"] and results["master_version"]["ok"]


def test_seed_id_given_as_original_is_refused(lab) -> None:
    ctx = _ctx(lab.dir)
    ctx.fuel.enable_extensions(1, ["cluster_upgrade"])
    seed = ctx.fuel.upgrade_clone(1, "prod-upgrade", ctx.fuel.release_by_version("2015.1.0-7.0")["id"])["id"]
    with pytest.raises(PreflightError) as caught:
        preflight.run(_ctx(lab.dir, env_id=seed))
    assert f"env {seed} (prod-upgrade) is already on 2015.1.0-7.0" in str(caught.value)
    with pytest.raises(PreflightError) as caught:
        preflight.run(ctx)
    assert f"already being upgraded: seed env {seed}" in str(caught.value)


def test_once_the_upgrade_started_a_rerun_keeps_the_first_baseline(lab) -> None:
    from runbook.procedure import prepare

    ctx = _ctx(lab.dir)
    first = preflight.run(ctx)
    prepare.run(ctx)
    ended = ctx.journal.stage_record(preflight.STAGE)["ended"]
    lab.run("node-4", "stop nova-compute")  # would fail services_up if preflight evaluated again
    assert preflight.run(_ctx(lab.dir)) == first
    assert ctx.journal.stage_record(preflight.STAGE)["ended"] == ended
