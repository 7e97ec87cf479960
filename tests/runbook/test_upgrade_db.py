"""procedure.upgrade_db and the shared dump/test-restore (procedure.dbcopy) against the lab.

A full run freezes the original (no tenant write accepted after the dump, the
lab's ledger agrees), proves the dump, restores and syncs it on the seed;
`leave_maintenance` undoes the freeze. Re-runs after faults continue where they
stopped and never dump again once the seed restore started; a bad master copy
is refused; an unmet precondition is refused before any change. Preflight's
backup check uses the same code on an original controller.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from runbook.journal import DONE, FAILED
from runbook.lib import cloud, db, haproxy, upstart
from runbook.lib.ssh import local_sha256
from runbook.plugins import CheckSpec
from runbook.procedure import dbcopy, preflight, prepare, upgrade_db
from runbook.procedure.context import Context
from tests.lab.cloudkit import wait_for
from tests.labkit import LabHandle
from tests.runbook.ctxkit import make_ctx
from tests.sabotage import harness

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

ORIGINALS = ["node-1", "node-2", "node-3"]
SEED_NODE = "node-10"
KILO = {"nova": 280, "keystone": 67, "cinder": 40, "glance": 41, "heat": 62, "neutron": "kilo"}
STEPS = ["preconditions", "maintenance: haproxy read-only", "maintenance: restart p_haproxy", "stop writers",
         "mysql read-only", "dump", "test-restore", "stop seed services", "restore", "db sync keystone",
         "db sync nova", "db sync heat", "db sync glance", "db sync neutron", "db sync cinder", "schema versions",
         "discard seed copy"]


@pytest.fixture
def seeded(lab: LabHandle, tmp_path: Path) -> LabHandle:
    """The lab with stages 0..2 done on env 1 (a checkpoint shared with the sabotage tests)."""
    harness.before(lab, 3, tmp_path)
    return lab


def _ctx(lab: LabHandle) -> Context:
    """A fresh context, as a new `octane` process opens one."""
    return make_ctx(lab.dir)


def _probe(ctx: Context) -> int:
    """A write the original's nova refuses by validation (400) unless HAProxy refuses it first (503)."""
    return ctx.cloud().compute.post("/os-keypairs", json={"keypair": {"name": "octane/probe"}}, raise_exc=False,
                                    status_code_retries=0).status_code


def _started(ctx: Context) -> dict[str, str]:
    return {name: step["started"] for name, step in ctx.journal.stage_record(upgrade_db.STAGE)["steps"].items()}


# --------------------------------------------------------------------------- dbcopy


def test_cluster_infrastructure_is_never_a_stop_target() -> None:
    for name in ("p_mysql", "clone_p_haproxy", "master_p_rabbitmq-server", "vip__public", "ping_vip__public",
                 "p_dns", "p_ntp", "p_conntrackd", "p_vrouter", "corosync", "pacemaker", "memcached",
                 "openvswitch-switch", "ceph-mon", "ssh"):
        assert upgrade_db.is_infrastructure(name) and not upgrade_db.is_seed_service(name), name
    assert not any(upgrade_db.is_infrastructure(job) for job in upgrade_db.WRITER_JOBS)
    for job in ("p_neutron-plugin-openvswitch-agent", "neutron-server", "nova-api", "apache2", "heat-api-cfn"):
        assert not upgrade_db.is_infrastructure(job), job
    assert all(upgrade_db.is_seed_service(j) for j in ("apache2", "neutron-l3-agent", "glance-registry", "keystone"))
    with pytest.raises(upgrade_db.UpgradeDbError):
        upgrade_db._check_not_infrastructure(["nova-conductor", "clone_p_mysql"])


def test_counts_compare_within_what_the_dump_saw() -> None:
    low = {"nova": {"key_pairs": 3, "instances": 5}}
    high = {"nova": {"key_pairs": 5, "instances": 5}}
    assert dbcopy.moved(low, high) == ["nova.key_pairs 3 -> 5"]
    assert dbcopy.compare({"nova": {"key_pairs": 4, "instances": 5}}, low, high) == []
    assert dbcopy.compare({"nova": {"key_pairs": 6, "instances": 4}}, low, high) == [
        "nova.instances: 4 rows restored, 5 at dump time", "nova.key_pairs: 6 rows restored, 3..5 at dump time"]
    assert dbcopy.compare({"nova": {"instances": 5, "extra": 0}}, low, low) == [
        "nova.key_pairs: missing", "nova.extra: not in the original"]
    assert dbcopy.compare({}, low, low) == ["nova: not in the restored copy"]


def test_scratch_restore_on_a_live_controller_leaves_its_databases_alone(lab: LabHandle, tmp_path: Path) -> None:
    ctx = _ctx(lab)
    dbs = ["glance", "heat", "cinder"]
    before = (db.databases(ctx.pool, "node-1"), dbcopy.row_counts(ctx.pool, "node-1", dbs))
    record = dbcopy.take(ctx.pool, "node-1", dbs, tmp_path / "part.sql.gz")
    assert stat.S_IMODE((tmp_path / "part.sql.gz").stat().st_mode) == 0o600
    assert record["sha256"] == local_sha256(tmp_path / "part.sql.gz") and record["dbs"] == dbs
    assert ctx.pool.run("node-1", f"test -e {dbcopy.remote_path(tmp_path / 'part.sql.gz')}").status == 1
    checked = dbcopy.restore_check(ctx.pool, "node-1", record)
    assert checked["counts"] == record["counts"] and checked["scratch"] == [f"octane_check_{d}" for d in dbs]
    assert (db.databases(ctx.pool, "node-1"), dbcopy.row_counts(ctx.pool, "node-1", dbs)) == before
    assert ctx.pool.run("node-1", f"test -e {dbcopy.REMOTE_DIR}").status == 1, "the node keeps a dump folder"
    # The master's copy altered afterwards: refused before anything is restored.
    with open(tmp_path / "part.sql.gz", "r+b") as handle:
        handle.seek(40)
        handle.write(b"garbage")
    with pytest.raises(dbcopy.DumpError) as refused:
        dbcopy.restore_check(ctx.pool, "node-1", record)
    assert "sha256" in refused.value.message and refused.value.fix


def test_preflight_backup_check_passes_and_names_a_failing_dump(lab: LabHandle) -> None:
    ctx = _ctx(lab)
    spec = next(c for c in preflight.checks() if c.name == "db_backup")
    assert isinstance(spec, CheckSpec) and preflight.checks()[-1].name == "db_backup"
    result = preflight.evaluate(ctx, spec)
    assert result.ok, result.problem
    path = Path(result.evidence["path"])
    assert path == preflight.backup_path(ctx) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert result.evidence["dbs"] == list(dbcopy.SERVICES) and result.evidence["test_restore"]["tables"] > 50
    assert not [d for d in db.databases(ctx.pool, "node-1") if d.startswith(dbcopy.SCRATCH)]
    assert not (ctx.journal.folder / prepare.WORKSPACE).exists(), "preflight made prepare's workspace"
    lab.cli("fault", "add", "--node", "node-1", "--op", "mysqldump", "--kind", "fail")
    failed = preflight.evaluate(ctx, spec)
    assert not failed.ok and "mysqldump" in failed.problem and "dump again" in failed.fix


# --------------------------------------------------------------------------- upgrade-db


def test_upgrade_db_freezes_the_original_and_migrates_the_seed(seeded: LabHandle) -> None:
    ctx = _ctx(seeded)
    assert _probe(ctx) == 400
    seen: dict[str, Any] = {}

    def hook(name: str, result: Any) -> None:
        seen.setdefault("steps", []).append(name)
        if name == "dump":
            seen["writes at dump"] = seeded.inspect()["tenant_writes"]

    done = upgrade_db.run(ctx, step_hook=hook)
    assert seen["steps"] == STEPS and done["versions"] == KILO
    record = upgrade_db.recorded_dump(ctx)
    path = Path(record["path"])
    assert path == ctx.journal.folder / prepare.WORKSPACE / upgrade_db.DUMP_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and local_sha256(path) == record["sha256"]
    assert ctx.journal.fact(upgrade_db.DUMP_FACT)["sha256"] == record["sha256"]
    # The original: reads answer, writes refused by HAProxy, MySQL read-only, writers stopped.
    assert cloud.servers(ctx.cloud()) and _probe(ctx) == 503
    assert all(db.read_only(ctx.pool, n) for n in ORIGINALS)
    assert not any(upstart.jobs(ctx.pool, n).get("nova-conductor") for n in ORIGINALS)
    # The lab's ledger: no tenant write accepted since the dump, none lost.
    time.sleep(1.0)
    ledger = seeded.inspect()
    assert ledger["tenant_writes"] == seen["writes at dump"] and ledger["lost_writes"] == 0
    # The seed holds the original's rows at Kilo's schema; its copy of the dump is gone.
    assert dbcopy.row_counts(ctx.pool, SEED_NODE, ["cinder"])["cinder"]["volumes"] == \
        record["counts"]["cinder"]["volumes"]
    assert ctx.pool.run(SEED_NODE, f"test -e {dbcopy.REMOTE_DIR}").status == 1, "the seed keeps the dump"
    # Leaving maintenance (rollback) undoes exactly the freeze.
    left = upgrade_db.leave_maintenance(_ctx(seeded))
    assert left["started"]["pacemaker"] == ["clone_p_heat-engine"]
    assert _probe(ctx) == 400 and not any(db.read_only(ctx.pool, n) for n in ORIGINALS)
    assert {haproxy.current_mode(ctx.pool, n) for n in ORIGINALS} == {"normal"}
    assert all(upstart.jobs(ctx.pool, n).get("nova-conductor") and upstart.jobs(ctx.pool, n).get("heat-engine")
               for n in ORIGINALS)
    wait_for(lambda: seeded.inspect()["tenant_writes"] > ledger["tenant_writes"], "tenant writes to resume")


def test_rerun_after_a_dump_fault_continues_and_stays_in_maintenance_meanwhile(seeded: LabHandle) -> None:
    seeded.cli("fault", "add", "--node", "node-1", "--op", "mysqldump", "--kind", "fail", "--times", "1")
    ctx = _ctx(seeded)
    with pytest.raises(upgrade_db.UpgradeDbError) as failed:
        upgrade_db.run(ctx)
    assert "mysqldump" in failed.value.message and "stays in read-only maintenance" in failed.value.message
    assert "leave_maintenance" in failed.value.fix and "dump again" in failed.value.fix
    record = ctx.journal.stage_record(upgrade_db.STAGE)
    assert record["status"] == FAILED and "leave_maintenance" in record["error"]
    assert [n for n, s in record["steps"].items() if s["status"] == DONE] == STEPS[:STEPS.index("dump")]
    assert ctx.journal.fact(upgrade_db.MAINTENANCE_FACT)["active"] is True
    assert _probe(ctx) == 503, "maintenance was left although nothing was dumped"
    first = _started(ctx)

    again = _ctx(seeded)
    upgrade_db.run(again)
    assert again.journal.stage_status(upgrade_db.STAGE) == DONE
    second = _started(again)
    assert all(second[name] == first[name] for name in STEPS[:STEPS.index("dump")])


def test_never_dumps_again_once_the_seed_restore_started(seeded: LabHandle) -> None:
    # zcat fails once on the seed controller: the test-restore stops; the re-run continues there.
    seeded.cli("fault", "add", "--node", SEED_NODE, "--op", "zcat", "--kind", "fail", "--times", "1")
    ctx = _ctx(seeded)
    with pytest.raises(upgrade_db.UpgradeDbError) as failed:
        upgrade_db.run(ctx)
    assert "zcat" in failed.value.message
    assert ctx.journal.stage_record(upgrade_db.STAGE)["steps"]["test-restore"]["status"] == FAILED

    def break_restore(name: str, result: Any) -> None:
        if name == "stop seed services":  # the next step is the restore: its zcat fails once
            seeded.cli("fault", "add", "--node", SEED_NODE, "--op", "zcat", "--kind", "fail", "--times", "1")

    with pytest.raises(upgrade_db.UpgradeDbError):
        upgrade_db.run(_ctx(seeded), step_hook=break_restore)
    record = _ctx(seeded).journal.stage_record(upgrade_db.STAGE)
    assert record["steps"]["test-restore"]["status"] == DONE and record["steps"]["restore"]["status"] == FAILED
    dumped = record["steps"]["dump"]
    # From now on mysqldump fails on every original controller: a re-run that dumped would fail.
    seeded.cli("fault", "add", "--node", "node-[123]", "--op", "mysqldump", "--kind", "fail")
    path = Path(dumped["result"]["path"])
    kept = path.read_bytes()
    path.unlink()
    with pytest.raises(upgrade_db.UpgradeDbError) as missing:
        upgrade_db.run(_ctx(seeded))
    assert "missing on the master" in missing.value.message
    assert "dump #2" not in _ctx(seeded).journal.stage_record(upgrade_db.STAGE)["steps"]
    path.write_bytes(kept)
    os.chmod(path, 0o600)
    final = _ctx(seeded)
    upgrade_db.run(final)
    record = final.journal.stage_record(upgrade_db.STAGE)
    assert record["status"] == DONE and record["steps"]["dump"] == dumped
    assert [n for n in record["steps"] if n.startswith("dump")] == ["dump"]


def test_a_changed_master_copy_is_refused_then_dumped_again_before_the_restore(seeded: LabHandle) -> None:
    def corrupt(name: str, result: Any) -> None:
        if name == "dump":
            with open(result["path"], "r+b") as handle:
                handle.seek(64)
                handle.write(uuid.uuid4().bytes)

    ctx = _ctx(seeded)
    with pytest.raises(upgrade_db.UpgradeDbError) as refused:
        upgrade_db.run(ctx, step_hook=corrupt)
    assert "not the" in refused.value.message and "recorded" in refused.value.message
    assert "take a new dump" in refused.value.fix
    assert "restore" not in ctx.journal.stage_record(upgrade_db.STAGE)["steps"]
    # The operator removes the bad copy: the original is still frozen, so a new dump loses nothing.
    Path(upgrade_db.recorded_dump(ctx)["path"]).unlink()
    again = _ctx(seeded)
    upgrade_db.run(again)
    steps = again.journal.stage_record(upgrade_db.STAGE)["steps"]
    assert steps["dump #2"]["status"] == DONE and steps["test-restore #2"]["status"] == DONE
    assert upgrade_db.recorded_dump(again) == steps["dump #2"]["result"]
    assert again.journal.stage_status(upgrade_db.STAGE) == DONE


def test_unmet_precondition_is_refused_before_any_change(seeded: LabHandle) -> None:
    ctx = _ctx(seeded)
    workspace = ctx.journal.folder / prepare.WORKSPACE
    for leftover in workspace.iterdir():
        leftover.unlink()
    workspace.rmdir()
    with pytest.raises(prepare.PrepareError) as refused:
        upgrade_db.run(ctx)
    assert "workspace" in refused.value.message and refused.value.fix
    assert {haproxy.current_mode(ctx.pool, n) for n in ORIGINALS} == {"normal"} and _probe(ctx) == 400
    assert not any(db.read_only(ctx.pool, n) for n in ORIGINALS)
    assert upgrade_db.MAINTENANCE_FACT not in ctx.journal.facts()
