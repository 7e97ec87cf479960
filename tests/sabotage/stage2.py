"""Stage 2's sabotages: scenes applied to a lab on which stages 0..1 completed.

Five stage runs: three altered actions (the seed deployed on the wire, isolated without
its GRE overlay, cloned with settings lost), a seed node that fails to provision while
someone changes the original's settings, and Nailgun refusing the clone.
"""

from __future__ import annotations

from tests.labkit import LabHandle
from tests.sabotage.harness import STAGE_FILES, Sabotage, turn_on_debug

STAGE = STAGE_FILES[2]


def seed_wired(lab: LabHandle) -> dict[str, int]:
    """The lab as it is; the action is altered (tests.sabotage.alter.seed_wired)."""
    return {"orig": 1}


def seed_without_overlay(lab: LabHandle) -> dict[str, int]:
    """The lab as it is; the action is altered (tests.sabotage.alter.seed_without_overlay)."""
    return {"orig": 1}


def settings_lost(lab: LabHandle) -> dict[str, int]:
    """The lab as it is; the action is altered (tests.sabotage.alter.settings_lost)."""
    return {"orig": 1}


def seed_node_fails(lab: LabHandle) -> dict[str, int]:
    """node-10 (the first free node, a seed controller to be) fails every provisioning, and someone
    turned debug logging on in env 1 after the baseline."""
    lab.cli("fault", "add", "--node", "node-10", "--op", "provision", "--kind", "provision-fail")
    turn_on_debug(lab)
    return {"orig": 1}


def clone_refused(lab: LabHandle) -> dict[str, int]:
    """Nailgun answers 500 to every clone of env 1."""
    lab.cli("fault", "add", "--node", "master", "--op", "POST /api/v1/clusters/1/upgrade/clone*", "--kind", "api-5xx")
    return {"orig": 1}


TABLE: dict[str, Sabotage] = {
    f"{STAGE}::test_completed": Sabotage(seed_node_fails, "orig", "node-10's provisioning fails: upgrade-env stops"),
    f"{STAGE}::test_seed_env_exists": Sabotage(clone_refused, "orig", "api-5xx on POST clusters/1/upgrade/clone"),
    f"{STAGE}::test_seed_carries_the_original_settings": Sabotage(
        settings_lost, "orig", "the clone loses libvirt_type and the management VLAN", "settings_lost"),
    f"{STAGE}::test_seed_controllers_ready": Sabotage(
        seed_node_fails, "orig", "provision-fail on node-10: seed controllers not ready"),
    f"{STAGE}::test_seed_isolated": Sabotage(
        seed_wired, "orig", "seed deployed with Nailgun's default network scheme (patched to the wire)", "seed_wired"),
    f"{STAGE}::test_seed_has_its_own_cluster": Sabotage(
        seed_without_overlay, "orig", "seed isolated without GRE: each controller alone, no quorum",
        "seed_without_overlay"),
    f"{STAGE}::test_no_ip_conflict": Sabotage(
        seed_wired, "orig", "seed on the wire: VIPs and controller addresses answered twice", "seed_wired"),
    f"{STAGE}::test_original_untouched": Sabotage(
        seed_node_fails, "orig", "env 1's debug setting changed after the baseline"),
    f"{STAGE}::test_original_serving": Sabotage(
        seed_wired, "orig", "seed on the wire: the original's APIs answer in turn from both clusters", "seed_wired"),
}
