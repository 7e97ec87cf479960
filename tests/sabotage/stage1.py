"""Stage 1's sabotages: scenes applied to a lab on which stage 0 completed."""

from __future__ import annotations

from tests.labkit import LabHandle
from tests.sabotage.harness import STAGE_FILES, Sabotage, journal_dir, turn_on_debug

STAGE = STAGE_FILES[1]


def unreachable_and_changed(lab: LabHandle) -> dict[str, int]:
    """A free node's SSH drops every connection, and someone turned debug logging on in env 1."""
    lab.cli("fault", "add", "--node", "node-11", "--op", "ssh", "--kind", "ssh-drop")
    turn_on_debug(lab)
    return {"orig": 1}


def workspace_taken(lab: LabHandle) -> dict[str, int]:
    """A file (not octane's) sits where the workspace belongs."""
    (journal_dir(lab) / "env-1" / "workspace").write_text("someone else's notes\n")
    return {"orig": 1}


def extension_refused(lab: LabHandle) -> dict[str, int]:
    """Nailgun answers 500 to every attempt to enable an extension on env 1."""
    lab.cli("fault", "add", "--node", "master", "--op", "PUT /api/v1/clusters/1/extensions*", "--kind", "api-5xx")
    return {"orig": 1}


def unrecorded_enable(lab: LabHandle) -> dict[str, int]:
    """The lab as it is; the action is altered (tests.sabotage.alter.prepare_unrecorded)."""
    return {"orig": 1}


TABLE: dict[str, Sabotage] = {
    f"{STAGE}::test_completed": Sabotage(unreachable_and_changed, "orig", "ssh-drop on node-11: prepare stops"),
    f"{STAGE}::test_nodes_reachable_with_pinned_host_keys": Sabotage(
        unreachable_and_changed, "orig", "ssh-drop on free node node-11"),
    f"{STAGE}::test_env_unchanged": Sabotage(unreachable_and_changed, "orig",
                                             "env 1's debug setting changed after the baseline"),
    f"{STAGE}::test_workspace_private": Sabotage(workspace_taken, "orig", "a file where the workspace goes"),
    f"{STAGE}::test_cluster_upgrade_extension_enabled": Sabotage(
        extension_refused, "orig", "api-5xx on PUT clusters/1/extensions"),
    f"{STAGE}::test_preparation_is_revertible": Sabotage(
        unrecorded_enable, "orig", "prepare enables cluster_upgrade without journaling it", "prepare_unrecorded"),
}
