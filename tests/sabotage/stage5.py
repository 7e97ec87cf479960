"""Stage 5's sabotages: scenes applied to a lab on which stages 0..4 completed.

Five stage runs: four altered actions (the original left running and plugged in: two clusters on the
VIPs, rolled back; the computes left on Juno without the RPC pin; the routers never moved, rolled
back; maintenance never left) and one broken lab (a seed monitor stopped that cannot start again, and
a compute's OVS agent stopped that cannot start again: upgrade-control refuses before any change).
"""

from __future__ import annotations

from tests.labkit import LabHandle
from tests.sabotage.harness import STAGE_FILES, Sabotage

STAGE = STAGE_FILES.get(5, "runbook/stages/stage5_upgrade_control.py")
SEED_CTRL = "node-11"  # the second seed controller stage 2 deploys (its monitor is mon.node-11)
COMPUTE = "node-5"  # a compute of the default scenario hosting VMs
OVS_AGENT = "neutron-plugin-openvswitch-agent"


def _run(lab: LabHandle, node: str, command: str) -> None:
    status, out, err = lab.run(node, command)
    assert status == 0, f"sabotage `{command}` on {node} failed: {out}{err}"


def original_plugged(lab: LabHandle) -> dict[str, int]:
    """The lab as stages 0..4 left it; the action leaves the original running and plugged
    (tests.sabotage.alter.control_original_plugged)."""
    return {"orig": 1}


def computes_on_juno(lab: LabHandle) -> dict[str, int]:
    """The lab as stages 0..4 left it; the action leaves the computes on Juno and pins nothing
    (tests.sabotage.alter.computes_left_on_juno)."""
    return {"orig": 1}


def routers_stay(lab: LabHandle) -> dict[str, int]:
    """The lab as stages 0..4 left it; the action skips the router moves
    (tests.sabotage.alter.routers_not_moved)."""
    return {"orig": 1}


def maintenance_stays(lab: LabHandle) -> dict[str, int]:
    """The lab as stages 0..4 left it; the action never leaves maintenance
    (tests.sabotage.alter.maintenance_kept)."""
    return {"orig": 1}


def seed_mon_and_compute_agent_down(lab: LabHandle) -> dict[str, int]:
    """The seed monitor of SEED_CTRL stopped, and every start of it fails (a store it refuses); the OVS
    agent of COMPUTE stopped, and every (re)start of it fails: its VMs lose their network."""
    _run(lab, SEED_CTRL, f"stop ceph-mon id={SEED_CTRL}")
    lab.cli("fault", "add", "--node", SEED_CTRL, "--op", "start ceph-mon*", "--kind", "fail",
            "--message", "start: Job failed to start")
    _run(lab, COMPUTE, f"stop {OVS_AGENT}")
    lab.cli("fault", "add", "--node", COMPUTE, "--op", f"*{OVS_AGENT}", "--kind", "fail",
            "--message", "start: Job failed to start")
    return {"orig": 1}


_PLUGGED = "control_original_plugged"
_JUNO = "computes_left_on_juno"
_ROUTERS = "routers_not_moved"
_MAINTENANCE = "maintenance_kept"
TABLE: dict[str, Sabotage] = {
    f"{STAGE}::test_completed": Sabotage(
        seed_mon_and_compute_agent_down, "orig", f"ceph-mon id={SEED_CTRL} cannot start: upgrade-control refuses"),
    f"{STAGE}::test_addresses_answered_by_the_seed_only": Sabotage(
        original_plugged, "orig", "the original left running on the wires: two clusters on the VIPs (rolled back)",
        _PLUGGED),
    f"{STAGE}::test_original_controllers_unplugged_and_stopped": Sabotage(
        original_plugged, "orig", "the original's cluster never killed, its controllers never unplugged", _PLUGGED),
    f"{STAGE}::test_ceph_on_the_seed_monitors": Sabotage(
        seed_mon_and_compute_agent_down, "orig", f"mon.{SEED_CTRL} down: no quorum of every seed monitor"),
    f"{STAGE}::test_computes_up_in_the_new_control_plane_with_the_pin": Sabotage(
        computes_on_juno, "orig", "computes left on Juno RPC without the pin under Kilo conductors", _JUNO),
    f"{STAGE}::test_neutron_agents_alive": Sabotage(
        seed_mon_and_compute_agent_down, "orig", f"{OVS_AGENT} stopped on {COMPUTE}"),
    f"{STAGE}::test_baseline_vms_active_and_reachable": Sabotage(
        seed_mon_and_compute_agent_down, "orig", f"{COMPUTE}'s VMs unreachable: its OVS agent is stopped"),
    f"{STAGE}::test_routers_on_seed_l3_agents": Sabotage(
        routers_stay, "orig", "routers left on the original's L3 agents (rolled back)", _ROUTERS),
    f"{STAGE}::test_apis_writable": Sabotage(
        maintenance_stays, "orig", "the seed's HAProxy left read-only: writes refused with 503", _MAINTENANCE),
}
