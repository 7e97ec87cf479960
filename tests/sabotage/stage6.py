"""Stage 6's sabotages: scenes applied to a lab on which stages 0..5 completed.

Six stage runs: two broken labs (a compute whose provisioning fails: the stage stops with that node in
error and its batch's OSD node still under noout; the seed controllers' nova.conf allowing far less RAM
per compute, under an action that plans with nova's default ratios: its migrations fail with
NoValidHost, nothing is reinstalled) and four altered actions (computes reinstalled without
migrating their VMs; OSD nodes taken down without noout; OSD nodes reprovisioned without keep_data;
computes deployed without the RPC pin put back).
"""

from __future__ import annotations

from tests.labkit import LabHandle
from tests.sabotage.harness import STAGE_FILES, Sabotage

STAGE = STAGE_FILES.get(6, "runbook/stages/stage6_upgrade_nodes.py")
COMPUTE = "node-4"  # the first compute of the default scenario: the plan's first batch
SEED_CTRLS = ("node-10", "node-11", "node-12")  # the seed controllers stage 2 deploys
LOW_RAM_RATIO = "0.12"  # 128 GB computes allow ~15 GB of guests: the VMs fit where they are, not moved


def _run(lab: LabHandle, node: str, command: str) -> None:
    status, out, err = lab.run(node, command)
    assert status == 0, f"sabotage `{command}` on {node} failed: {out}{err}"


def provision_fails(lab: LabHandle) -> dict[str, int]:
    """The provisioning of COMPUTE fails (Fuel marks it error, error_type provision)."""
    lab.cli("fault", "add", "--node", COMPUTE, "--op", "provision", "--kind", "provision-fail")
    return {"orig": 1}


def ram_ratio_low(lab: LabHandle) -> dict[str, int]:
    """The seed controllers' nova.conf sets ram_allocation_ratio 0.12 (the scheduler's arithmetic, which
    the lab's capacity follows); the action ignores it (tests.sabotage.alter.capacity_ignored)."""
    for node in SEED_CTRLS:
        _run(lab, node, f"sed -i 's/^\\[DEFAULT\\]$/[DEFAULT]\\nram_allocation_ratio = {LOW_RAM_RATIO}/' "
                        "/etc/nova/nova.conf")
    return {"orig": 1}


def vms_not_migrated(lab: LabHandle) -> dict[str, int]:
    """The lab as stages 0..5 left it; computes reinstalled with their VMs
    (tests.sabotage.alter.node_reinstalled_with_vms)."""
    return {"orig": 1}


def noout_never_set(lab: LabHandle) -> dict[str, int]:
    """The lab as stages 0..5 left it; OSD nodes down without noout (tests.sabotage.alter.osd_without_noout)."""
    return {"orig": 1}


def ceph_data_not_kept(lab: LabHandle) -> dict[str, int]:
    """The lab as stages 0..5 left it; OSD nodes reprovisioned without keep_data
    (tests.sabotage.alter.osd_data_not_kept)."""
    return {"orig": 1}


def pin_dropped(lab: LabHandle) -> dict[str, int]:
    """The lab as stages 0..5 left it; the RPC pin not put back after deployment
    (tests.sabotage.alter.pin_not_reapplied)."""
    return {"orig": 1}


TABLE: dict[str, Sabotage] = {
    f"{STAGE}::test_completed": Sabotage(
        ram_ratio_low, "orig", "VMs sent beyond the computes' free capacity: live migration fails (NoValidHost)",
        "capacity_ignored"),
    f"{STAGE}::test_nodes_in_the_seed_on_7_0": Sabotage(
        provision_fails, "orig", f"{COMPUTE}'s provisioning fails: it is left in error"),
    f"{STAGE}::test_baseline_vms_intact": Sabotage(
        vms_not_migrated, "orig", "computes reinstalled with their VMs on them: the VMs are gone",
        "node_reinstalled_with_vms"),
    f"{STAGE}::test_computes_up_with_the_pin": Sabotage(
        pin_dropped, "orig", "deployed computes left without [upgrade_levels] compute=juno", "pin_not_reapplied"),
    f"{STAGE}::test_osds_up_and_in_with_their_original_ids": Sabotage(
        ceph_data_not_kept, "orig", "OSD nodes reprovisioned without keep_data: new OSD ids, the old ones down",
        "osd_data_not_kept"),
    f"{STAGE}::test_no_data_moved": Sabotage(
        noout_never_set, "orig", "OSD nodes down without noout: OSDs marked out, data backfilled (and back)",
        "osd_without_noout"),
    f"{STAGE}::test_noout_unset": Sabotage(
        provision_fails, "orig", f"the stage stops at {COMPUTE}'s provisioning with its batch's OSD node under noout"),
    f"{STAGE}::test_servers_used": Sabotage(
        ram_ratio_low, "orig", "the migrations fail: every compute and OSD node stays in the original env",
        "capacity_ignored"),
}
