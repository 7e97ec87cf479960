"""Stage 4, upgrade-ceph (`octane upgrade-ceph SEED`): the seed's monitors carry the original cluster.

The action runs `procedure.upgrade_ceph`; the tests read what an operator can see
at the end of it: each seed controller's ceph.conf, keyrings and monitor (its
admin socket answers without a quorum, with the monmap it was given), the
seed monitors' quorum on their own overlay, the original cluster through an
original controller, and the archives in the master's workspace. Keys are
compared by sha256 prefix; no key is printed or attached.

The seed's monitors reach no OSD before upgrade-control plugs the seed in, so
their quorum's health is not asserted here; the original's is.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from runbook.errors import OctaneError
from runbook.fixtures import action
from runbook.lib import ceph
from runbook.procedure import prepare, upgrade_ceph
from runbook.report import evidence

_suite = evidence.suite(upgrade_ceph.STAGE)


@pytest.fixture(scope="module", autouse=True)
def upgrade_ceph_action(ctx, validate_only) -> None:  # noqa: ANN001 - fixtures
    action.perform(ctx, validate_only, upgrade_ceph.STAGE, upgrade_ceph.run)


@pytest.fixture(scope="module")
def originals(ctx) -> list[str]:  # noqa: ANN001
    return ctx.facts.controllers()


@pytest.fixture(scope="module")
def seeds(ctx) -> list[str]:  # noqa: ANN001
    return upgrade_ceph.seed_controllers(ctx)


def _own_monitors(ctx, seeds: list[str]) -> dict[str, dict[str, Any] | str]:  # noqa: ANN001
    """Each seed monitor's own view (admin socket), or why there is none."""
    out: dict[str, dict[str, Any] | str] = {}
    for seed in seeds:
        try:
            out[seed] = ceph.mon_status(ctx.pool, seed, seed) or "not running (no admin socket)"
        except OctaneError as exc:
            out[seed] = f"unreadable: {exc}"
    return out


@_suite
def test_completed(ctx) -> None:  # noqa: ANN001
    action.assert_completed(ctx, upgrade_ceph.STAGE)


@_suite
def test_seed_mons_carry_the_original_fsid(ctx, baseline: dict[str, Any], seeds: list[str]) -> None:  # noqa: ANN001
    """Every seed controller's ceph.conf and its running monitor's injected monmap name the original fsid."""
    fsid = baseline["ceph"]["fsid"]
    own = _own_monitors(ctx, seeds)
    seen = {seed: {"ceph.conf": ceph.conf_fsid(ctx.pool, seed),
                   "monitor's monmap": own[seed]["monmap"]["fsid"] if isinstance(own[seed], dict) else own[seed]}
            for seed in seeds}
    evidence.attach("fsid per seed controller", {"original": fsid, "seed": seen})
    wrong = {seed: found for seed, found in seen.items() if set(found.values()) != {fsid}}
    assert not wrong, f"seed controllers not on the original fsid {fsid}: {wrong}"


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")  # reads the original MONs, stopped there
def test_seed_mons_carry_the_original_keys(ctx, seeds: list[str]) -> None:  # noqa: ANN001
    """mon., client.admin and client.bootstrap-osd: each seed controller's keyrings hold the keys of the
    original controller it replaces, and the seed monitors' database has the original bootstrap-osd key."""
    moves = upgrade_ceph.current_moves(ctx)
    keys = upgrade_ceph.key_differences(ctx, moves)
    source = moves[seeds[0]]["source"]
    try:
        in_db = ceph.auth_key_fingerprint(ctx.pool, seeds[0], upgrade_ceph.BOOTSTRAP_OSD)
    except OctaneError as exc:
        in_db = f"unreadable: {exc.message}"
    original_db = ceph.auth_key_fingerprint(ctx.pool, source, upgrade_ceph.BOOTSTRAP_OSD)
    evidence.attach("key fingerprints (sha256 prefixes)", {
        **{seed: {"seed": k["fingerprints"], "original": k["original"]} for seed, k in keys.items()},
        "bootstrap-osd in the monitors' database": {"seed": in_db, "original": original_db}})
    differ = {seed: k["differ"] for seed, k in keys.items() if k["differ"]}
    assert not differ, f"seed keys that are not the original's: {differ}"
    assert in_db == original_db, f"the seed monitors' bootstrap-osd key is {in_db}, the original's {original_db}"


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")  # reads the original MONs, stopped there
def test_seed_monmap_lists_the_original_mon_addresses(ctx, originals: list[str], seeds: list[str]) -> None:  # noqa: ANN001
    """Each seed monitor runs with a monmap of every seed controller at the original monitors'
    addresses (one each: the address its controller takes over), and they hold one quorum."""
    orig = ceph.quorum(ctx.pool, originals[0])
    addresses = upgrade_ceph.seed_addresses(ctx, seeds)
    wanted = {seed: next((a for a in orig["mons"].values() if ceph.addr_ip(a) == ip), f"{ip} (no original MON)")
              for seed, ip in addresses.items()}
    own = _own_monitors(ctx, seeds)
    try:
        quorum: dict[str, Any] | str = upgrade_ceph.seed_quorum(ctx, seeds)
    except OctaneError as exc:
        quorum = f"unreachable: {exc.message}"
    evidence.attach("monmaps", {"original": orig["mons"], "wanted on the seed": wanted,
                                "seed monitors": own, "seed quorum": quorum})
    assert sorted(wanted.values()) == sorted(orig["mons"].values()), \
        f"the seed controllers' addresses {addresses} are not the original monitors' {orig['mons']}"
    wrong = {seed: found for seed, found in own.items()
             if not isinstance(found, dict) or found["monmap"]["mons"] != wanted
             or found["state"] not in ("leader", "peon")}
    assert not wrong, f"seed monitors without the expected monmap {wanted}, or out of quorum: {wrong}"
    assert isinstance(quorum, dict) and sorted(quorum["names"]) == sorted(seeds), \
        f"the seed monitors' quorum is {quorum}, not all of {seeds}"


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")
def test_original_cluster_serves(ctx, baseline: dict[str, Any], originals: list[str]) -> None:  # noqa: ANN001
    """The original monitors still hold their quorum on the original fsid, healthy but for the
    `noout` flag the stage set for the seed's isolation (upgrade-control unsets it)."""
    quorum = ceph.quorum(ctx.pool, originals[0])
    health, summary = ceph.health(ctx.pool, originals[0])
    held = ctx.journal.fact(upgrade_ceph.ISOLATION_FLAGS_FACT)
    evidence.attach("original cluster", {"quorum": quorum, "health": health, "summary": summary, "flags set": held})
    assert quorum["fsid"] == baseline["ceph"]["fsid"]
    assert sorted(quorum["names"]) == sorted(quorum["mons"]) == sorted(originals), \
        f"the original's quorum is {quorum['names']} of {sorted(quorum['mons'])}"
    expected = [f"{','.join(held)} flag(s) set"] if held else []
    assert health == ("HEALTH_WARN" if held else "HEALTH_OK") and summary == expected, f"{health}: {summary}"
    assert "noout" in ceph.flags(ctx.pool, originals[0]), "the OSDs are not held in for the seed's isolation"


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")
def test_original_osds_up_and_in(ctx, baseline: dict[str, Any], originals: list[str]) -> None:  # noqa: ANN001
    osds = ceph.osd_tree(ctx.pool, originals[0])
    evidence.attach("osd tree", osds)
    assert [o["id"] for o in osds] == baseline["ceph"]["osd_ids"]
    down = [f"osd.{o['id']}@{o['host']}" for o in osds if not (o["up"] and o["in"])]
    assert not down, f"OSDs not up and in: {down}"


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")
def test_no_data_moved(ctx, baseline: dict[str, Any], originals: list[str]) -> None:  # noqa: ANN001
    """CRUSH places objects by the OSDs in and their weights: with every baseline OSD fully in, every
    PG active+clean and the same object count per pool, no object moved and none was lost."""
    node = originals[0]
    objects = ceph.pool_objects(ctx.pool, node)
    weights = {o["id"]: o["reweight"] for o in ceph.osd_tree(ctx.pool, node)}
    pgs = ceph.pg_stat(ctx.pool, node)
    evidence.attach("placement", {"objects": objects, "baseline objects": baseline["ceph"]["pool_objects"],
                                  "reweights": weights, "pgs": pgs})
    assert objects == baseline["ceph"]["pool_objects"]
    assert weights == {osd: 1.0 for osd in baseline["ceph"]["osd_ids"]}, f"OSD weights changed: {weights}"
    assert pgs["by_state"] == {"active+clean": pgs["num_pgs"]}, f"PGs not all active+clean: {pgs['by_state']}"


@_suite
def test_archives_private(ctx) -> None:  # noqa: ANN001
    """The original's keys went through the master only in 0600 files of the private workspace, one
    archive per original controller replaced, each with its monitor's store and /etc/ceph."""
    folder = prepare.workspace(ctx)
    sources = sorted({m["source"] for m in upgrade_ceph.recorded_moves(ctx).values()})
    found = {}
    for source in sources:
        path = folder / f"{upgrade_ceph.ARCHIVE_PREFIX}{source}.tgz"
        found[source] = _archive_facts(path, source)
    evidence.attach("archives", {"workspace": str(folder), "archives": found})
    wrong = {source: facts for source, facts in found.items()
             if facts.get("mode") != "0o600" or facts.get("uid") != os.geteuid() or not facts.get("holds")}
    assert not wrong, f"archives missing, not private or incomplete: {wrong}"


def _archive_facts(path: Path, source: str) -> dict[str, Any]:
    """Mode, owner and whether the archive holds the monitor's keyring and ceph.conf (names only)."""
    if not path.is_file() or path.is_symlink():
        return {"path": str(path), "missing": True}
    info = path.stat()
    with tarfile.open(path) as archive:
        names = set(archive.getnames())
    needed = {f"{ceph.mon_dir(source).lstrip('/')}/keyring", "etc/ceph/ceph.conf"}
    return {"path": str(path), "mode": oct(stat.S_IMODE(info.st_mode)), "uid": info.st_uid,
            "holds": needed <= names}
