"""procedure.upgrade_node against the lab, from the state stages 0..5 leave (a checkpoint shared with the
sabotage tests), and the lib pieces it brought (nova service disable/enable, live migration and its
waits, Fuel's reassign with keep_data).

A full run reinstalls every compute and OSD node into the seed without a VM rebooted or a byte of Ceph
data moved (the lab's ledger agrees) and a second run changes nothing; a provisioning fault stops it
with the node in error and noout still set, and a re-run continues there; a precondition that does
not hold is refused before any change; `octane upgrade-node SEED NODE...` upgrades a selection and the
stage stays unfinished until the rest is done.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runbook.errors import CloudError, OctaneError, RemoteTimeout
from runbook.journal import DONE, FAILED
from runbook.lib import ceph, cloud
from runbook.procedure import upgrade_control, upgrade_node
from runbook.procedure.context import Context
from tests.labkit import LabHandle
from tests.runbook.ctxkit import make_ctx
from tests.sabotage import harness

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

SEED = 2
COMPUTES = ["node-4", "node-5", "node-6"]
OSD_NODES = ["node-7", "node-8", "node-9"]
SEED_CTRLS = ["node-10", "node-11", "node-12"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ready(lab: LabHandle, tmp_path: Path) -> LabHandle:
    """The lab with stages 0..5 done on env 1."""
    harness.before(lab, 6, tmp_path)
    return lab


def _ctx(lab: LabHandle) -> Context:
    return make_ctx(lab.dir)


def _steps(ctx: Context) -> dict[str, dict[str, Any]]:
    return ctx.journal.stage_record(upgrade_node.STAGE)["steps"]


def _clean_ledger(lab: LabHandle) -> dict[str, Any]:
    ledger = lab.inspect()
    assert ledger["bytes_moved"] == 0 and ledger["objects_lost"] == 0, ledger["bytes_moved"]
    assert ledger["vms_rebooted"] == 0 and ledger["vms_unreachable"] == [], ledger["vms_unreachable"]
    assert ledger["live_migrations"]["failed"] == 0 and ledger["lost_writes"] == 0
    return ledger


def _envs(lab: LabHandle) -> dict[str, Any]:
    return {n["hostname"]: n["cluster"] for n in lab.nodes()}


def _untouched(ctx: Context, lab: LabHandle) -> None:
    """Nothing changed: every compute and OSD node in the original env, none disabled, noout unset."""
    envs = _envs(lab)
    assert all(envs[n] == 1 for n in COMPUTES + OSD_NODES), envs
    services = cloud.compute_services(upgrade_control.seed_cloud(ctx))
    assert all(s["status"] == "enabled" for s in services if s["binary"] == "nova-compute"), services
    assert "noout" not in ceph.flags(ctx.pool, SEED_CTRLS[0])


# --------------------------------------------------------------------------- libs


def test_disable_migrate_wait_and_enable_through_the_seed_api(ready: LabHandle) -> None:
    ctx = _ctx(ready)
    conn = upgrade_control.seed_cloud(ctx)
    service = cloud.disable_compute(conn, "node-4", upgrade_node.REASON)
    assert (service["status"], service["disabled_reason"]) == ("disabled", upgrade_node.REASON)
    capacity = cloud.hypervisor_capacity(conn)
    assert capacity["node-4"]["memory_mb"] == 131072 and capacity["node-4"]["vcpus"] == 24
    vm = cloud.servers_on(conn, "node-4")[0]
    cloud.live_migrate(conn, vm["id"], "node-6", block_migration=False)
    moved = cloud.wait_migrated(conn, vm["id"], "node-4", timeout=30)
    assert (moved["host"], moved["status"], moved["task_state"]) == ("node-6", "ACTIVE", None)
    with pytest.raises(CloudError) as refused:  # nova refuses a move to where it already is
        cloud.live_migrate(conn, vm["id"], "node-6", block_migration=False)
    assert "current host" in refused.value.message
    with pytest.raises(RemoteTimeout):
        cloud.wait_host_empty(conn, "node-4", timeout=0.5, poll=0.1)
    assert cloud.enable_compute(conn, "node-4")["status"] == "enabled"
    _clean_ledger(ready)


def test_reassign_keeps_the_named_volumes_and_refuses_an_unknown_one(ready: LabHandle) -> None:
    ctx = _ctx(ready)
    with pytest.raises(OctaneError) as refused:
        ctx.fuel.reassign(SEED, [7], keep={7: ["ceph", "no-such-volume"]})
    assert "no-such-volume" in refused.value.message
    assert _envs(ready)["node-7"] == 1  # refused before the move
    assert ctx.fuel.running_task(SEED) is None


# --------------------------------------------------------------------------- upgrade-node


def test_upgrade_node_moves_every_node_and_the_ledger_agrees(ready: LabHandle) -> None:
    ctx = _ctx(ready)
    seen: list[str] = []
    done = upgrade_node.run(ctx, step_hook=lambda name, result: seen.append(name))
    assert sorted(done["nodes"]) == sorted(COMPUTES + OSD_NODES) and done["batches"] == 3
    envs = _envs(ready)
    assert all(envs[n] == SEED for n in COMPUTES + OSD_NODES), envs
    ledger = _clean_ledger(ready)
    assert ledger["live_migrations"]["completed"] >= 12  # every VM moved at least once
    # The plan is in the journal, and the batches ran as planned: one OSD failure domain per batch.
    plan = ctx.journal.fact(upgrade_node.PLAN_FACT)
    assert [sorted(set(b) & set(OSD_NODES)) for b in plan["batches"]] == [[n] for n in OSD_NODES]
    for batch in plan["batches"]:
        assert any(name.startswith("batch ") and name.endswith(": deploy") and all(n in name for n in batch)
                   for name in seen), (batch, seen)
    assert seen.index("node-7: osds back") < seen.index("node-8: noout")  # one node at a time
    assert "noout" not in ceph.flags(ctx.pool, SEED_CTRLS[0])
    before = upgrade_node.recorded_plan(ctx)["marked_out_before"]
    assert upgrade_control.pinned(ctx, "node-4")
    assert all(len(ceph.marked_out(ctx.pool, n)) == before[n] for n in SEED_CTRLS)  # no OSD out since the plan
    # Done: a second run changes nothing.
    started = {name: step["started"] for name, step in _steps(ctx).items()}
    upgrade_node.run(_ctx(ready))
    assert {name: step["started"] for name, step in _steps(_ctx(ready)).items()} == started


def test_a_provisioning_fault_stops_the_stage_and_a_rerun_continues(ready: LabHandle) -> None:
    ready.cli("fault", "add", "--node", "node-4", "--op", "provision", "--kind", "provision-fail", "--times", "1")
    ctx = _ctx(ready)
    with pytest.raises(OctaneError) as failed:
        upgrade_node.run(ctx)
    assert "node-4" in failed.value.message and "re-run upgrade-node" in failed.value.fix
    steps = _steps(ctx)
    provision = next(name for name in steps if name.endswith(": provision"))
    assert steps[provision]["status"] == FAILED and "node-4" in provision and "node-7" in provision
    assert steps[f"{provision.rsplit(':', 1)[0]}: migrate"]["status"] == DONE
    # The node is in error, drained; its batch's OSD node stays under noout: nothing was backfilled.
    assert ready.node("node-4")["status"] == "error"
    assert "noout" in ceph.flags(ctx.pool, SEED_CTRLS[0])
    _clean_ledger(ready)
    first = {name: step["started"] for name, step in steps.items() if step["status"] == DONE}

    again = _ctx(ready)
    upgrade_node.run(again)
    steps = _steps(again)
    assert again.journal.stage_status(upgrade_node.STAGE) == DONE
    assert all(steps[name]["started"] == started for name, started in first.items()), "a done step ran again"
    assert steps[provision]["result"]["provisioned again"] == ["node-4"]
    assert all(env == SEED for n, env in _envs(ready).items() if n in COMPUTES + OSD_NODES)
    _clean_ledger(ready)


def test_a_vm_in_error_is_refused_before_any_change(ready: LabHandle) -> None:
    ctx = _ctx(ready)
    vm = cloud.servers_on(upgrade_control.seed_cloud(ctx), "node-5")[0]
    status, out, err = ready.run(SEED_CTRLS[0], f"mysql -e \"UPDATE nova.instances SET vm_state='error' "
                                                f"WHERE uuid='{vm['id']}'\"")
    assert status == 0, out + err
    with pytest.raises(OctaneError) as refused:
        upgrade_node.run(ctx)
    assert f"VM {vm['id']}" in refused.value.message and "ERROR" in refused.value.message
    assert "nothing was changed" in refused.value.fix
    assert list(_steps(ctx)) == ["plan"] and _steps(ctx)["plan"]["status"] == FAILED
    _untouched(ctx, ready)


def test_capacity_short_is_refused_before_any_change(ready: LabHandle) -> None:
    # The scheduler lets ~15 GB of guests run on each 128 GB compute: the VMs fit where they are, not elsewhere.
    for node in SEED_CTRLS:
        status, out, err = ready.run(node, "sed -i 's/^\\[DEFAULT\\]$/[DEFAULT]\\nram_allocation_ratio = 0.12/' "
                                           "/etc/nova/nova.conf")
        assert status == 0, out + err
    ctx = _ctx(ready)
    with pytest.raises(OctaneError) as refused:
        upgrade_node.run(ctx)
    assert "capacity short" in refused.value.message and "RAM" in refused.value.message
    assert "nothing was changed" in refused.value.fix
    _untouched(ctx, ready)


def test_the_last_enabled_nova_compute_is_refused_before_any_change(ready: LabHandle) -> None:
    ctx = _ctx(ready)
    conn = upgrade_control.seed_cloud(ctx)
    for host in ("node-4", "node-5"):  # an operator's maintenance
        cloud.disable_compute(conn, host, "operator: hardware check")
    with pytest.raises(OctaneError) as refused:
        upgrade_node.run(ctx)
    assert "node-6 is the last enabled nova-compute" in refused.value.message
    services = {s["host"]: s for s in cloud.compute_services(conn) if s["binary"] == "nova-compute"}
    assert services["node-6"]["status"] == "enabled" and services["node-4"]["disabled_reason"].startswith("operator")
    assert all(_envs(ready)[n] == 1 for n in COMPUTES + OSD_NODES)


def test_nodes_that_are_not_computes_or_osd_nodes_of_the_original_are_refused(ready: LabHandle) -> None:
    ctx = _ctx(ready)
    with pytest.raises(OctaneError) as refused:
        upgrade_node.run(ctx, nodes=[1, 10, 99])
    message = refused.value.message
    assert "1 (node-1): a controller of the original env" in message
    assert "10 (node-10): already in the seed env 2" in message and "99: no such node" in message
    _untouched(ctx, ready)


def _octane(lab: LabHandle, *args: str, reports: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runbook.cli", "--target", str(lab.dir / "target.yaml"),
                           "--reports", str(reports), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_octane_upgrade_node_with_a_selection_then_the_rest(ready: LabHandle, tmp_path: Path) -> None:
    proc = _octane(ready, "upgrade-node", str(SEED), "1", reports=tmp_path)
    assert proc.returncode == 2 and "not computes or OSD nodes of env 1" in proc.stderr, proc.stderr
    # Only node-5: it is upgraded (its VMs go to computes not reinstalled yet), the stage stays unfinished.
    proc = _octane(ready, "upgrade-node", str(SEED), "5", reports=tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:]
    envs = _envs(ready)
    assert envs["node-5"] == SEED and all(envs[n] == 1 for n in ("node-4", "node-6", *OSD_NODES)), envs
    ctx = _ctx(ready)
    record = ctx.journal.stage_record(upgrade_node.STAGE)
    assert record["status"] == FAILED and "still in the original env" in record["error"]
    assert "node-5: upgraded" in record["steps"] and "node-4: upgraded" not in record["steps"]
    # The rest, without naming them: done nodes are not touched again.
    proc = _octane(ready, "upgrade-node", str(SEED), reports=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert all(env == SEED for n, env in _envs(ready).items() if n in COMPUTES + OSD_NODES)
    steps = _steps(_ctx(ready))
    assert steps["node-5: disable"]["started"] == record["steps"]["node-5: disable"]["started"]
    _clean_ledger(ready)
