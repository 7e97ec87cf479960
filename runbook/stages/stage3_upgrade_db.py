"""Stage 3, upgrade-db (`octane upgrade-db SEED`): the original frozen, its databases copied and migrated.

The action runs `procedure.upgrade_db`; the tests read what an operator can see:
the original's APIs (through its public VIP), its controllers' MySQL and
services, the dump on the master against what the journal recorded, and the
seed controllers' MySQL and services.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from runbook.errors import OctaneError
from runbook.fixtures import action
from runbook.lib import cloud, db, pacemaker, upstart
from runbook.lib.ssh import local_sha256
from runbook.procedure import dbcopy, prepare, upgrade_db
from runbook.report import evidence

_suite = evidence.suite(upgrade_db.STAGE)
INFRASTRUCTURE_JOBS = ("mysql", "haproxy", "rabbitmq-server")
INFRASTRUCTURE_RESOURCES = ("p_mysql", "p_haproxy", "p_rabbitmq-server", "vip__public", "vip__management")


@pytest.fixture(scope="module", autouse=True)
def upgrade_db_action(ctx, validate_only) -> None:  # noqa: ANN001 - fixtures
    action.perform(ctx, validate_only, upgrade_db.STAGE, upgrade_db.run)


@pytest.fixture(scope="module")
def originals(ctx) -> list[str]:  # noqa: ANN001
    return ctx.facts.controllers()


@pytest.fixture(scope="module")
def seeds(ctx) -> list[str]:  # noqa: ANN001
    return list(ctx.journal.fact(upgrade_db.CONTROLLERS_FACT))


def _dump(ctx) -> dict[str, Any]:  # noqa: ANN001
    record = upgrade_db.recorded_dump(ctx)
    if record is None:
        pytest.fail(f"no dump is recorded for env {ctx.env_id}: {upgrade_db.STAGE} did not get that far")
    return record


@_suite
def test_completed(ctx) -> None:  # noqa: ANN001
    action.assert_completed(ctx, upgrade_db.STAGE)


@_suite
def test_original_api_answers_reads(cloud_orig, baseline) -> None:  # noqa: ANN001
    """GET still works in maintenance (a fresh token included: keystone is not in maintenance)."""
    try:
        servers = cloud.servers(cloud_orig)
    except OctaneError as exc:
        pytest.fail(f"the original's nova refuses reads: {exc}")
    evidence.attach("servers", [s["id"] for s in servers])
    missing = {s["id"] for s in baseline["cloud"]["servers"]} - {s["id"] for s in servers}
    assert not missing, f"baseline servers the original no longer lists: {sorted(missing)}"


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")
def test_original_api_refuses_writes(cloud_orig) -> None:  # noqa: ANN001
    answers = cloud.write_probes(cloud_orig)
    evidence.attach("non-GET probes", answers)
    assert set(answers.values()) == {503}, f"APIs that did not refuse a write with 503: {answers}"


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")
def test_original_db_read_only(ctx, originals) -> None:  # noqa: ANN001
    seen = {node: db.read_only(ctx.pool, node) for node in originals}
    evidence.attach("read_only", seen)
    assert all(seen.values()), f"MySQL is writable on {[n for n, on in seen.items() if not on]}"


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")
def test_original_writers_stopped_infrastructure_kept(ctx, originals) -> None:  # noqa: ANN001
    jobs = {node: upstart.jobs(ctx.pool, node) for node in originals}
    writers = {node: sorted(j for j in upgrade_db.WRITER_JOBS if running.get(j)) for node, running in jobs.items()}
    down = {node: sorted(j for j in INFRASTRUCTURE_JOBS if not running.get(j)) for node, running in jobs.items()}
    placed = pacemaker.status(ctx.pool, originals[0])["resources"]
    unplaced = [res for res in INFRASTRUCTURE_RESOURCES if not placed.get(res)]
    evidence.attach("original controllers", {"writers running": writers, "infrastructure down": down,
                                             "resources not running": unplaced})
    assert not any(writers.values()), f"writers still run on the original: {writers}"
    assert not any(down.values()) and not unplaced, f"cluster infrastructure stopped: {down}, {unplaced}"


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")
def test_no_write_after_dump(ctx) -> None:  # noqa: ANN001
    record = _dump(ctx)
    now = dbcopy.row_counts(ctx.pool, record["node"], record["dbs"])
    moved = dbcopy.moved(record["counts"], now)
    evidence.attach("tables written since the dump", moved)
    assert not moved, f"writes reached the original's databases after the dump: {moved}"


@_suite
def test_dump_on_master(ctx, baseline) -> None:  # noqa: ANN001
    record = _dump(ctx)
    path = Path(record["path"])
    evidence.attach("dump", {k: record[k] for k in ("node", "dbs", "path", "sha256", "bytes")})
    assert path.parent == ctx.journal.folder / prepare.WORKSPACE, f"{path} is not in the upgrade workspace"
    assert path.is_file(), f"{path} is missing on the master"
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.geteuid(), \
        f"{path} is mode {stat.S_IMODE(info.st_mode):o}, uid {info.st_uid}"
    assert local_sha256(path) == record["sha256"], f"{path} is not the dump that was taken"
    # Every service database the env had (the baseline's; the original's MySQL stops at stage 5).
    assert set(record["dbs"]) == set(dbcopy.SERVICES) & set(baseline["db_rows"]), record["dbs"]


@_suite
def test_dump_test_restored(ctx) -> None:  # noqa: ANN001
    record = _dump(ctx)
    checked = upgrade_db.recorded_test_restore(ctx)
    assert checked is not None, "the dump was never test-restored"
    evidence.attach("test-restore", {k: checked[k] for k in ("node", "scratch", "tables", "rows")})
    assert dbcopy.compare(checked["counts"], record["counts"], record["counts"]) == []
    left = [name for name in db.databases(ctx.pool, checked["node"]) if name.startswith(dbcopy.SCRATCH)]
    assert not left, f"scratch databases left on {checked['node']}: {left}"


@_suite
def test_seed_schema_kilo(ctx, seeds) -> None:  # noqa: ANN001
    wanted = upgrade_db.target_versions()
    found = {service: db.schema_version(ctx.pool, seeds[0], service) for service in upgrade_db.SYNC_ORDER}
    evidence.attach("seed schema versions", {"found": found, "wanted": wanted})
    assert found == {service: wanted[service] for service in found}


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")
def test_baseline_rows_in_seed(ctx, seeds, baseline) -> None:  # noqa: ANN001
    node = seeds[0]
    counts = dbcopy.row_counts(ctx.pool, node, baseline["db_rows"])
    fewer = [f"{name}.{table}: {counts[name].get(table)} < {rows}" for name, tables in baseline["db_rows"].items()
             for table, rows in tables.items() if counts[name].get(table, 0) < rows]
    ids = {"servers": _ids(ctx, node, "SELECT uuid FROM nova.instances WHERE deleted = 0"),
           "volumes": _ids(ctx, node, "SELECT id FROM cinder.volumes WHERE deleted = 0"),
           "networks": _ids(ctx, node, "SELECT id FROM neutron.networks")}
    missing = {kind: sorted({r["id"] for r in baseline["cloud"][kind]} - found) for kind, found in ids.items()}
    evidence.attach("seed against the baseline", {"tables with fewer rows": fewer, "ids missing": missing})
    assert not fewer, f"the seed's databases lack baseline rows: {fewer}"
    assert not any(missing.values()), f"baseline resources missing in the seed's databases: {missing}"


def _ids(ctx, node: str, sql: str) -> set[str]:  # noqa: ANN001
    return {row[0] for row in db.query(ctx.pool, node, sql)}


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")
def test_seed_services_stopped(ctx, seeds) -> None:  # noqa: ANN001
    running = {node: sorted(j for j, on in upstart.jobs(ctx.pool, node).items()
                            if on and upgrade_db.is_seed_service(j)) for node in seeds}
    placed = pacemaker.status(ctx.pool, seeds[0])["resources"]
    resources = sorted(res for res, where in placed.items() if where and not upgrade_db.is_infrastructure(res))
    mysql = sorted(p["node"] for p in placed.get("p_mysql", []))
    evidence.attach("seed", {"services running": running, "resources running": resources, "mysql on": mysql})
    assert not any(running.values()) and not resources, f"seed services still run: {running}, {resources}"
    assert set(mysql) == set(seeds), f"the seed's MySQL runs on {mysql} only"
