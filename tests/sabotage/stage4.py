"""Stage 4's sabotages: scenes applied to a lab on which stages 0..3 completed.

Four scenes, one stage run each: the original's Ceph degraded under an action that keeps the seed's
fsid; a ceph-mon injection failing under an action that leaves the archive readable; an action that
skips the keyring copy; an action that injects the original's monmap."""

from __future__ import annotations

from tests.labkit import LabHandle
from tests.sabotage.harness import STAGE_FILES, Sabotage

STAGE = STAGE_FILES.get(4, "runbook/stages/stage4_upgrade_ceph.py")
OSD_NODE, OSD = "node-7", 0  # the first ceph-osd node of the default scenario and one of its OSDs
SEED_CTRL = "node-11"  # the second seed controller stage 2 deploys
ORIG_MON = "node-3"  # an original controller


def _run(lab: LabHandle, node: str, command: str) -> None:
    status, out, err = lab.run(node, command)
    assert status == 0, f"sabotage `{command}` on {node} failed: {out}{err}"


def original_degraded_seed_fsid_kept(lab: LabHandle) -> dict[str, int]:
    """On the original, a monitor stopped (quorum of two, HEALTH_WARN) and an OSD stopped (down, then
    out: its PGs remapped, their data moved); the action keeps the seed's fsid
    (tests.sabotage.alter.ceph_seed_fsid)."""
    _run(lab, ORIG_MON, f"stop ceph-mon id={ORIG_MON}")
    _run(lab, OSD_NODE, f"stop ceph-osd id={OSD}")
    return {"orig": 1}


def inject_fails_archive_readable(lab: LabHandle) -> dict[str, int]:
    """`ceph-mon --inject-monmap` fails on a seed controller; the action leaves the archives readable
    (tests.sabotage.alter.ceph_archive_readable)."""
    lab.cli("fault", "add", "--node", SEED_CTRL, "--op", "ceph-mon *--inject-monmap*", "--kind", "fail")
    return {"orig": 1}


def as_it_is(lab: LabHandle) -> dict[str, int]:
    """The lab as stages 0..3 left it; the action is altered."""
    return {"orig": 1}


def as_it_is_again(lab: LabHandle) -> dict[str, int]:
    """The lab as stages 0..3 left it; another altered action (one alter per scene)."""
    return {"orig": 1}


TABLE: dict[str, Sabotage] = {
    f"{STAGE}::test_completed": Sabotage(
        inject_fails_archive_readable, "orig", f"ceph-mon --inject-monmap fails on {SEED_CTRL}",
        "ceph_archive_readable"),
    f"{STAGE}::test_archives_private": Sabotage(
        inject_fails_archive_readable, "orig", "the archive fetched world-readable", "ceph_archive_readable"),
    f"{STAGE}::test_seed_mons_carry_the_original_fsid": Sabotage(
        original_degraded_seed_fsid_kept, "orig", "the seed's own fsid kept in ceph.conf and the monmap", "ceph_seed_fsid"),
    f"{STAGE}::test_original_cluster_serves": Sabotage(
        original_degraded_seed_fsid_kept, "orig", f"ceph-mon stopped on {ORIG_MON}: quorum of two, HEALTH_WARN",
        "ceph_seed_fsid"),
    f"{STAGE}::test_original_osds_up_and_in": Sabotage(
        original_degraded_seed_fsid_kept, "orig", f"osd.{OSD} stopped on {OSD_NODE}", "ceph_seed_fsid"),
    f"{STAGE}::test_no_data_moved": Sabotage(
        original_degraded_seed_fsid_kept, "orig", f"osd.{OSD} stopped, marked out: its PGs remapped", "ceph_seed_fsid"),
    f"{STAGE}::test_seed_mons_carry_the_original_keys": Sabotage(
        as_it_is, "orig", "the keyring copy skipped", "ceph_keyrings_kept"),
    f"{STAGE}::test_seed_monmap_lists_the_original_mon_addresses": Sabotage(
        as_it_is_again, "orig", "the original store's monmap injected", "ceph_original_monmap"),
}
