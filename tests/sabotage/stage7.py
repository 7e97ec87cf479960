"""Stage 7's sabotages: scenes applied to a lab on which stages 0..6 completed.

Two stage runs: an altered action (a sloppy cleanup: stale services and agents left, the pin left on
the seed controllers and removed from the computes without restarting nova-compute, the master not
reverted and upgrade-db's dump deleted) and a seed env changed behind the upgrade's back (a setting,
an image, a VM's guest, a compute disabled, an OSD stopped): cleanup-env's comparison with the
baseline refuses to finish.
"""

from __future__ import annotations

from tests.labkit import LabHandle
from tests.sabotage.harness import STAGE_FILES, Sabotage, turn_on_debug

STAGE = STAGE_FILES.get(7, "runbook/stages/stage7_cleanup.py")
SEED = 2  # the seed env stage 2 creates on the default scenario
SEED_CTRL = "node-10"  # the first seed controller stage 2 deploys
COMPUTES = ("node-4", "node-5", "node-6")  # the default scenario's computes, in the seed after stage 6
OSD_NODE, OSD = "node-7", 0  # the first ceph-osd node of the default scenario and one of its OSDs


def _run(lab: LabHandle, node: str, command: str) -> str:
    status, out, err = lab.run(node, command)
    assert status == 0, f"sabotage `{command}` on {node} failed: {out}{err}"
    return out


def sloppy(lab: LabHandle) -> dict[str, int]:
    """The lab as stages 0..6 left it; the action is altered (tests.sabotage.alter.cleanup_sloppy)."""
    return {"orig": 1}


def seed_drifted(lab: LabHandle) -> dict[str, int]:
    """Behind the upgrade's back, on the seed: debug logging turned on in its Fuel settings; an image
    renamed (the seed's glance DB); the guest of a VM destroyed in libvirt; COMPUTES[1]'s nova-compute
    disabled (nova's DB); an OSD stopped."""
    turn_on_debug(lab, SEED)
    _run(lab, SEED_CTRL, "mysql -e \"UPDATE glance.images SET name = 'renamed' ORDER BY id LIMIT 1\"")
    _run(lab, SEED_CTRL, "mysql -e \"UPDATE nova.services SET disabled = 1, disabled_reason = 'by hand' "
                         f"WHERE host = '{COMPUTES[1]}' AND \\`binary\\` = 'nova-compute'\"")
    guests = {node: _run(lab, node, "virsh list --uuid").split() for node in COMPUTES}
    node = next(n for n in COMPUTES if guests[n])
    _run(lab, node, f"virsh destroy {guests[node][0]}")
    _run(lab, OSD_NODE, f"stop ceph-osd id={OSD}")
    return {"orig": 1}


_SLOPPY = "cleanup_sloppy"
TABLE: dict[str, Sabotage] = {
    f"{STAGE}::test_completed": Sabotage(
        seed_drifted, "orig", "the seed differs from the baseline: cleanup-env's comparison refuses to finish"),
    f"{STAGE}::test_nothing_stale": Sabotage(
        sloppy, "orig", "the original controllers' services and agents left in the seed's APIs", _SLOPPY),
    f"{STAGE}::test_computes_up_and_enabled": Sabotage(
        seed_drifted, "orig", f"{COMPUTES[1]}'s nova-compute disabled behind the upgrade's back"),
    f"{STAGE}::test_no_rpc_pin": Sabotage(
        sloppy, "orig", "[upgrade_levels] compute=juno left on the seed controllers", _SLOPPY),
    f"{STAGE}::test_nova_services_restarted_since_cleanup_started": Sabotage(
        sloppy, "orig", "the pin removed from the computes' nova.conf, nova-compute not restarted", _SLOPPY),
    f"{STAGE}::test_baseline_resources_in_the_seed": Sabotage(
        seed_drifted, "orig", "a baseline image renamed in the seed's glance"),
    f"{STAGE}::test_baseline_vms_reachable": Sabotage(
        seed_drifted, "orig", "a baseline VM's guest destroyed: it answers no more"),
    f"{STAGE}::test_seed_settings_as_the_baseline": Sabotage(
        seed_drifted, "orig", "debug logging turned on in the seed env's settings"),
    f"{STAGE}::test_ceph_healthy_no_data_moved": Sabotage(
        seed_drifted, "orig", f"osd.{OSD} stopped on {OSD_NODE}: HEALTH_WARN, then marked out"),
    f"{STAGE}::test_master_reverted": Sabotage(
        sloppy, "orig", "cleanup-fuel leaves cluster_upgrade enabled on both envs", _SLOPPY),
    f"{STAGE}::test_db_dumps_kept": Sabotage(
        sloppy, "orig", "cleanup-fuel deletes upgrade-db's dump", _SLOPPY),
}
