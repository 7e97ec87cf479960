"""Tenant traffic and lost writes.

The tenant writes through the env's public API (nova key pairs) while it
accepts writes; each accepted write is in the lab's ledger (`fuellab inspect`
counts them) and in the env's database; in read-only maintenance the writes
stop while reads go on. A write accepted by the original after the dump the
seed was restored from is lost, and counted, once the seed serves.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from fuellab import scenarios, traffic
from fuellab.lab import Lab
from fuellab.world import World
from tests.lab.cloudkit import connect, tenant_writes, wait_writes_beyond
from tests.lab.seedkit import ok

CONTROLLERS = ("node-1", "node-2", "node-3")
NOVA_FRONTEND = "/etc/haproxy/conf.d/8774-nova-api-2.cfg"


def tenant_keypairs(lab) -> list[str]:
    """The tenant's key pairs as the env's database holds them (the witness)."""
    conn = sqlite3.connect(lab.dir / "envdbs" / "env-1" / "nova.sqlite")
    try:
        return [r[0] for r in conn.execute("SELECT name FROM key_pairs WHERE deleted = 0 AND name LIKE "
                                           "'traffic-%'")]
    finally:
        conn.close()


def test_the_tenant_keeps_writing_through_the_api(lab):
    first = wait_writes_beyond(lab, 0)
    wait_writes_beyond(lab, first + 2)
    names = tenant_keypairs(lab)
    assert 1 <= len(names) <= traffic.KEEP + 1, names
    # What the admin sees through nova: the tenant's key pairs are real API objects.
    conn = connect(lab)
    user = conn.identity.find_user("tenant")
    listed = {k.name for k in conn.compute.keypairs(user_id=user.id)}
    assert listed & set(names)


def test_writes_stop_while_the_api_is_read_only_and_resume_after(lab):
    wait_writes_beyond(lab, 0)
    for host in CONTROLLERS:
        ok(lab, host, f"cp {NOVA_FRONTEND} /root/nova-api.cfg && "
                      f"echo '  http-request deny deny_status 503 if !METH_GET' >> {NOVA_FRONTEND}")
    ok(lab, "node-1", "crm resource restart p_haproxy")
    time.sleep(0.3)  # a write in flight when HAProxy restarted may still land
    frozen = tenant_writes(lab)
    time.sleep(1.5)  # several write intervals
    assert tenant_writes(lab) == frozen, "a write was accepted while the API was read-only"
    assert list(connect(lab).compute.servers(all_projects=True)), "reads go on in maintenance"
    for host in CONTROLLERS:
        ok(lab, host, f"cp /root/nova-api.cfg {NOVA_FRONTEND}")
    ok(lab, "node-1", "crm resource restart p_haproxy")
    wait_writes_beyond(lab, frozen)


# --------------------------------------------------------------------------- lost writes (the rule)


@pytest.fixture
def pair(tmp_path: Path, shared_lab) -> tuple[Lab, int, int]:
    """A copy of the pristine lab's state, not running, with a seed env cloned from env 1."""
    root = tmp_path / "lab"
    snap = shared_lab.dir / "snapshots" / "pristine"
    shutil.copytree(snap / "envdbs", root / "envdbs")
    shutil.copy(snap / "world.db", root / "world.db")
    (root / "lab.yaml").write_text((shared_lab.dir / "lab.yaml").read_text())
    lab = Lab.open(root)
    world: World = lab.world
    orig = world.clusters[1]
    seed = scenarios.new_cluster(world, "seed", world.release_by_version("2015.1.0-7.0"))
    relation = {"orig_cluster_id": orig.id, "seed_cluster_id": seed.id}
    orig.upgrade, seed.upgrade = dict(relation), dict(relation)
    return lab, orig.id, seed.id


def _keypair(lab: Lab, env: int, name: str, present: bool) -> None:
    conn = sqlite3.connect(lab.world.dir / "envdbs" / f"env-{env}" / "nova.sqlite")
    try:
        if present:
            conn.execute("INSERT INTO key_pairs (name, user_id, public_key, deleted) VALUES (?, 'u', 'k', 0)",
                         (name,))
        else:
            conn.execute("UPDATE key_pairs SET deleted = id WHERE name = ? AND user_id = 'u'", (name,))
        conn.commit()
    finally:
        conn.close()


def _write(lab: Lab, env: int, name: str, op: str) -> None:
    _keypair(lab, env, name, op == "create")
    lab.world.record("tenant_write", env=env, service="nova", table="key_pairs", id=f"u/{name}", op=op)


def test_writes_accepted_after_the_dump_are_lost_once_the_seed_serves(pair):
    lab, orig, seed = pair
    _write(lab, orig, "before-dump", "create")
    _write(lab, orig, "deleted-after-dump", "create")
    # The dump is taken and restored on the seed while the original still accepts writes.
    seed_dir = lab.world.dir / "envdbs" / f"env-{seed}"
    seed_dir.mkdir(parents=True)
    shutil.copy(lab.world.dir / "envdbs" / f"env-{orig}" / "nova.sqlite", seed_dir / "nova.sqlite")
    _write(lab, orig, "after-dump", "create")
    _write(lab, orig, "deleted-after-dump", "delete")
    assert traffic.audit_lost_writes(lab) == 0, "nothing is lost before the seed serves"
    _write(lab, seed, "on-the-seed", "create")
    _write(lab, seed, "before-dump", "delete")  # a later write on the seed overrides the original's
    assert traffic.audit_lost_writes(lab) == 2
    lost = {e["id"]: e["op"] for e in lab.world.ledger if e["kind"] == "lost_write"}
    assert lost == {"u/after-dump": "create", "u/deleted-after-dump": "delete"}
    assert traffic.audit_lost_writes(lab) == 2, "each lost write is counted once"


def test_after_a_rollback_the_seeds_writes_are_lost_and_the_originals_are_not(pair):
    lab, orig, seed = pair
    _write(lab, orig, "kept", "create")
    _write(lab, orig, "deleted-on-the-seed", "create")
    seed_dir = lab.world.dir / "envdbs" / f"env-{seed}"
    seed_dir.mkdir(parents=True)
    shutil.copy(lab.world.dir / "envdbs" / f"env-{orig}" / "nova.sqlite", seed_dir / "nova.sqlite")
    _write(lab, seed, "on-the-seed", "create")
    _write(lab, seed, "deleted-on-the-seed", "delete")
    _write(lab, seed, "churn", "create")
    _write(lab, seed, "churn", "delete")
    assert traffic.audit_lost_writes(lab) == 0, "nothing is lost while the seed serves"
    # Rolled back: the original serves again from its own database, which never saw the seed's writes.
    _write(lab, orig, "after-rollback", "create")
    assert traffic.audit_lost_writes(lab) == 2
    lost = {e["id"]: (e["op"], e["env"], e["lost_in"]) for e in lab.world.ledger if e["kind"] == "lost_write"}
    assert lost == {"u/on-the-seed": ("create", seed, orig), "u/deleted-on-the-seed": ("delete", seed, orig)}
    assert traffic.audit_lost_writes(lab) == 2, "each lost write is counted once"


def test_no_write_is_lost_when_the_dump_follows_the_last_write(pair):
    lab, orig, seed = pair
    _write(lab, orig, "a", "create")
    _write(lab, orig, "b", "create")
    _write(lab, orig, "a", "delete")
    seed_dir = lab.world.dir / "envdbs" / f"env-{seed}"
    seed_dir.mkdir(parents=True)
    shutil.copy(lab.world.dir / "envdbs" / f"env-{orig}" / "nova.sqlite", seed_dir / "nova.sqlite")
    _write(lab, seed, "c", "create")
    assert traffic.audit_lost_writes(lab) == 0
