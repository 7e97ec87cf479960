"""procedure.upgrade_ceph against the lab: refusals before any change, a re-run after a fault that
continues where it stopped (never extracting a monmap from a store already replaced), what reaches
the journal (no key), and what the seed's monitors become."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbook.errors import JournalError, OctaneError
from runbook.journal import DONE, FAILED
from runbook.lib import ceph
from runbook.procedure import upgrade_ceph
from runbook.procedure.context import Context
from tests.labkit import LabHandle
from tests.runbook.ctxkit import make_ctx
from tests.sabotage import harness

SEEDS = ["node-10", "node-11", "node-12"]
ORIGINALS = ["node-1", "node-2", "node-3"]


@pytest.fixture
def upgraded_db(lab: LabHandle, tmp_path: Path) -> LabHandle:
    """The lab with stages 0..3 done on env 1 (a checkpoint shared with the sabotage tests)."""
    harness.before(lab, 4, tmp_path)
    return lab


def seed_fsids(ctx: Context) -> dict[str, str | None]:
    return {seed: ceph.conf_fsid(ctx.pool, seed) for seed in SEEDS}


def test_refused_before_upgrade_db(lab: LabHandle, tmp_path: Path) -> None:
    harness.before(lab, 3, tmp_path)
    ctx = make_ctx(lab.dir)
    before = seed_fsids(ctx)
    with pytest.raises(JournalError, match="needs stage3_upgrade_db"):
        upgrade_ceph.run(ctx)
    assert seed_fsids(ctx) == before, "a refused upgrade-ceph changed the seed"


def test_a_seed_monitor_missing_from_the_seeds_map_is_refused_before_any_change(upgraded_db: LabHandle) -> None:
    ctx = make_ctx(upgraded_db.dir)
    status, _, err = upgraded_db.run("node-10", "ceph mon remove node-12")
    assert status == 0, err
    before = seed_fsids(ctx)
    with pytest.raises(upgrade_ceph.UpgradeCephError, match="not one per seed controller") as caught:
        upgrade_ceph.run(ctx)
    assert "nothing was changed" in str(caught.value)
    record = ctx.journal.stage_record(upgrade_ceph.STAGE)
    assert record["status"] == FAILED and list(record["steps"]) == ["plan"]
    assert seed_fsids(ctx) == before
    assert not list((ctx.journal.folder / "workspace").glob(f"{upgrade_ceph.ARCHIVE_PREFIX}*"))


def test_rerun_after_an_injection_fault_continues_without_repeating_done_steps(upgraded_db: LabHandle) -> None:
    lab = upgraded_db
    ctx = make_ctx(lab.dir)
    fsid = ceph.quorum(ctx.pool, "node-1")["fsid"]
    lab.cli("fault", "add", "--node", "node-11", "--op", "ceph-mon *--inject-monmap*", "--kind", "fail",
            "--times", "1")
    with pytest.raises(OctaneError, match="inject-monmap"):
        upgrade_ceph.run(ctx)
    record = ctx.journal.stage_record(upgrade_ceph.STAGE)
    steps = record["steps"]
    assert record["status"] == FAILED and steps["node-11: inject monmap"]["status"] == FAILED
    assert all(steps[f"node-10: {s}"]["status"] == DONE for s in ("stop mon", "inject monmap", "start mon"))
    assert "node-12: stop mon" not in steps, "the stage went on past the failed controller"
    # node-11's store is the original's now: its monitor is stopped, ceph.conf already names the fsid.
    assert not ceph.mon_running(ctx.pool, "node-11", "node-11")
    done_at = {name: step["ended"] for name, step in steps.items() if step["status"] == DONE}

    result = upgrade_ceph.run(make_ctx(lab.dir))
    record = ctx.journal.stage_record(upgrade_ceph.STAGE)
    assert record["status"] == DONE and result["fsid"] == fsid
    assert {name: record["steps"][name]["ended"] for name in done_at} == done_at, "a done step ran again"
    # Extracting again would have read the original's map from the replaced store: the seed's was kept.
    for seed in SEEDS:
        own = ceph.mon_status(ctx.pool, seed, seed)
        assert own is not None and own["state"] in ("leader", "peon")
        assert own["monmap"]["fsid"] == fsid and sorted(own["monmap"]["mons"]) == SEEDS
    assert sorted(ceph.quorum(ctx.pool, "node-10")["names"]) == SEEDS
    assert sorted(ceph.quorum(ctx.pool, "node-1")["names"]) == ORIGINALS


def test_done_stage_runs_again_as_a_no_op_and_no_key_reaches_the_journal(upgraded_db: LabHandle) -> None:
    ctx = make_ctx(upgraded_db.dir)
    first = upgrade_ceph.run(ctx)
    ended = ctx.journal.stage_record(upgrade_ceph.STAGE)["steps"]["verify"]["ended"]
    assert upgrade_ceph.run(make_ctx(upgraded_db.dir)) == first
    assert ctx.journal.stage_record(upgrade_ceph.STAGE)["steps"]["verify"]["ended"] == ended
    assert ctx.journal.fact(upgrade_ceph.FSID_FACT) == first["fsid"]
    assert ctx.journal.fact(upgrade_ceph.MONS_FACT) == first["mons"]
    # Every key of the original cluster, read the way an operator would: none is in the journal.
    secrets = set()
    for path in ("/etc/ceph/ceph.client.admin.keyring", "/root/ceph.bootstrap-osd.keyring",
                 f"{ceph.mon_dir('node-1')}/keyring", "/etc/ceph/ceph.client.volumes.keyring"):
        secrets |= set(ceph.keyring_keys(ctx.pool.read_text("node-1", path)).values())
    journal = ctx.journal.path.read_text()
    assert secrets and not [k for k in secrets if k in journal]
    assert "fingerprints" not in json.loads(journal)["facts"]
    # The seed controllers keep no copy of the archive; the master keeps one per original controller.
    for seed in SEEDS:
        assert upgraded_db.run(seed, f"ls {upgrade_ceph.REMOTE_DIR}")[1].split() == ["monmap"]
    kept = sorted(p.name for p in (ctx.journal.folder / "workspace").glob(f"{upgrade_ceph.ARCHIVE_PREFIX}*"))
    assert kept == [f"ceph-{h}.tgz" for h in ORIGINALS]


def test_monitor_tools_of_the_ceph_lib(lab: LabHandle) -> None:
    """The subsystem commands upgrade-ceph is made of, on an original controller of a pristine lab."""
    ctx = make_ctx(lab.dir)
    node, pool = "node-3", ctx.pool
    quorum = ceph.quorum(pool, node)
    own = ceph.mon_status(pool, node, node)
    assert own is not None and own["monmap"]["mons"] == quorum["mons"] and own["state"] in ("leader", "peon")
    ceph.stop_mon(pool, node, node)
    ceph.stop_mon(pool, node, node)  # already stopped: fine
    assert ceph.mon_status(pool, node, node) is None and not ceph.mon_running(pool, node, node)
    ceph.extract_monmap(pool, node, node, "/tmp/m")
    assert ceph.print_monmap(pool, node, "/tmp/m")["mons"] == quorum["mons"]
    other = "0badf5d0-1111-4222-8333-444455556666"
    ceph.monmap_set_fsid(pool, node, "/tmp/m", other)
    assert ceph.print_monmap(pool, node, "/tmp/m")["fsid"] == other
    ceph.start_mon(pool, node, node)
    ceph.start_mon(pool, node, node)  # already running: fine
    assert ceph.mon_running(pool, node, node)
    assert lab.run(node, "cp /etc/ceph/ceph.conf /tmp/ceph.conf")[0] == 0
    assert ceph.set_conf_fsid(pool, node, other, "/tmp/ceph.conf") is True
    assert ceph.set_conf_fsid(pool, node, other, "/tmp/ceph.conf") is False
    assert ceph.conf_fsid(pool, node, "/tmp/ceph.conf") == other and ceph.conf_fsid(pool, node) == quorum["fsid"]
    admin = ceph.keyring_fingerprints(pool, node, "/etc/ceph/ceph.client.admin.keyring")
    assert admin == {"client.admin": ceph.auth_key_fingerprint(pool, node, "client.admin")}
    assert len(admin["client.admin"]) == ceph.FINGERPRINT_LENGTH
    assert ceph.pool_objects(pool, node)["images"] > 0
