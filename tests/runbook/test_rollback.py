"""`octane rollback SEED` (runbook.procedure.rollback): the original env back in service.

The pure parts (what the journal says acted, what upgrade-node moved, the Juno versions to go back to,
how the seed's writes are shown) without a lab; then two lab runs from the checkpoints the late
sabotage tests build anyway (same xdist group, same worker): after upgrade-control (the refusals,
with nothing changed; a rollback interrupted by a fault and continued, a root write to the original's
database meanwhile making it restore the dump; the original serving exactly
as the baseline recorded, the lab's ledger agreeing; upgrade-db accepted again), and after
upgrade-ceph (maintenance left, noout unset, no VM touched; and nothing to roll back after upgrade-env).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from runbook import cli
from runbook.journal import DONE, FAILED, PENDING
from runbook.lib import apt, ceph, cloud, db, haproxy, network
from runbook.procedure import (
    preflight,
    rollback,
    upgrade_ceph,
    upgrade_control,
    upgrade_db,
    upgrade_node,
)
from runbook.procedure.context import Context
from tests.lab.cloudkit import TIMEOUT, public_vip, wait_for
from tests.labkit import LabHandle
from tests.runbook.ctxkit import make_ctx
from tests.sabotage import harness

pytestmark = [pytest.mark.xdist_group("sabotage-late"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]

ORIGINALS = ["node-1", "node-2", "node-3"]
SEEDS = ["node-10", "node-11", "node-12"]
COMPUTES = ["node-4", "node-5", "node-6"]
JUNO_KEYSTONE, KILO_KEYSTONE = "v3.0", "v3.4"
CONTROL_STEPS = ["seed read-only", "seed writes", "stop seed cluster", "isolate seed", "plug original",
                 "start original cluster", "original mysql read-only", "original database",
                 "seed cluster on its overlay"]
ALWAYS = ["plan", "original addresses", "leave maintenance", "ceph", "computes in the original control plane",
          "routers", "volumes", "verify", "reset upgrade stages"]


def octane(lab: LabHandle, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`octane --target <lab> ARGS` as the console script runs it; (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = cli.main(["--target", str(lab.dir / "target.yaml"), *args])
    out, err = capsys.readouterr()
    return code, out, err


def _journal(lab: LabHandle) -> dict[str, Any]:
    return json.loads((lab.dir / "journal" / "env-1" / "journal.json").read_text())


def _keystone(lab: LabHandle) -> str:
    """Which keystone answers the public VIP: Juno's (the original) or Kilo's (the seed)."""
    return requests.get(f"http://{public_vip(lab)}:5000/v3", timeout=TIMEOUT).json()["version"]["id"]


def _steps(ctx: Context) -> dict[str, dict[str, Any]]:
    return ctx.journal.stage_record(rollback.STAGE)["steps"]


def _names(rows: list[str]) -> set[str]:
    return {row.split(" ", 1)[1] for row in rows}


# --------------------------------------------------------------------------- pure


def test_what_acted_and_what_upgrade_node_moved() -> None:
    records = {
        upgrade_db.STAGE: {"steps": {"preconditions": {}, "maintenance: haproxy read-only": {}}},
        upgrade_ceph.STAGE: {"steps": {"plan": {}}},
        upgrade_control.STAGE: {"steps": {"preconditions": {}, "seed monitors": {}, "preconditions #2": {}}},
        upgrade_node.STAGE: {"steps": {"plan": {}, "batch 1 [node-4]: moves": {}}},
    }
    assert rollback.progress(records) == {upgrade_db.STAGE: ["maintenance: haproxy read-only"],
                                          upgrade_ceph.STAGE: [], upgrade_control.STAGE: [], upgrade_node.STAGE: []}
    records[upgrade_node.STAGE]["steps"]["node-4: disable"] = {}
    moved = rollback.progress(records)[upgrade_node.STAGE]
    assert moved == ["node-4: disable"]
    nodes = [{"hostname": "node-10", "cluster": 2, "roles": ["controller"]},
             {"hostname": "node-4", "cluster": 2, "roles": ["compute"]},
             {"hostname": "node-5", "cluster": 1, "roles": ["compute"]}]
    assert rollback.moved_nodes(moved, nodes, 2, ["node-10"]) == [
        "upgrade-node step 'node-4: disable'", "node-4 is in the seed env (compute)"]
    assert rollback.moved_nodes([], nodes[:1], 2, ["node-10"]) == []


def test_juno_versions_come_from_stage_5s_record_of_each_compute_or_of_another() -> None:
    before = {"nova-compute": "1:2014.2.2-fuel6.1~mira19", "neutron-plugin-openvswitch-agent": "1:2014.2.2-x"}
    record = {"steps": {"node-4: kilo packages": {"status": DONE, "result": {"before": before, "after": {}}},
                        "node-5: kilo packages": {"status": FAILED, "result": None},
                        "node-4: restart services": {"status": DONE, "result": {}}}}
    found = rollback.juno_versions(record, ["node-4", "node-5"])
    assert found == {"node-4": before, "node-5": before}
    assert rollback.juno_versions({}, ["node-4"]) == {"node-4": {}}


def test_the_seeds_writes_are_shown_table_by_table_and_self_written_tables_are_left_out() -> None:
    found = {"nova": {"key_pairs": {"created": 7, "deleted": 1, "listed": {
        "created": [f"{i} k{i}" for i in range(7)], "deleted": ["3 old"]}}},
        "cinder": {"volume_types": {"rows": -1, "listed": {}}}}
    assert rollback.describe(found) == ("cinder.volume_types: -1 rows more (or fewer); nova.key_pairs: 7 created "
                                        "(0 k0, 1 k1, 2 k2, 3 k3, 4 k4, +2 more); 1 deleted or undeleted (3 old)")
    sql = rollback.diff_sql("nova", "octane_check_nova", {"key_pairs": {"id", "deleted", "name"},
                                                          "instance_types": {"id"}, "tags": set()})
    assert sql.count(" UNION ALL ") == 6 and "'tags', 'rows'" in sql and "'instance_types', 'churn'" not in sql
    assert rollback._self_written("nova.services 15 -> 27") and not rollback._self_written("nova.key_pairs 1 -> 2")


# --------------------------------------------------------------------------- after upgrade-control


def _refusals(lab: LabHandle, capsys: pytest.CaptureFixture[str], ctx: Context) -> None:
    """Each refusal exits 2 naming the problem and the fix, and changes nothing."""
    journal = _journal(lab)
    for args, said in ((("rollback", "9"), "env 9 does not exist"),
                       (("rollback", "1"), "env 1 is an original env being upgraded, not a seed")):
        code, _, err = octane(lab, capsys, *args)
        assert code == 2 and said in err and " — " in err, err
    # upgrade-node acted (the journal says so: reaching it for real would cost a stage-6 run here)
    with ctx.journal.stage(upgrade_node.STAGE, inputs={"env_id": 1}) as stage, \
            stage.step("batch 1 [node-4]: reassign"):
        pass
    code, _, err = octane(lab, capsys, "rollback", "2")
    assert code == 2 and "upgrade-node has acted" in err and "batch 1 [node-4]: reassign" in err, err
    assert "octane upgrade-node 2" in err
    ctx.journal.reset(upgrade_node.STAGE)
    # tenants wrote through the seed since upgrade-control left maintenance
    writes = lab.inspect()["tenant_writes_by_env"].get("2", 0)
    wait_for(lambda: lab.inspect()["tenant_writes_by_env"].get("2", 0) > writes, "a tenant write to the seed",
             timeout=20)
    code, _, err = octane(lab, capsys, "rollback", "2")
    assert code == 2 and "the seed accepted writes" in err and "nova.key_pairs: " in err, err
    assert "--discard-seed-writes" in err
    assert _journal(lab) == journal
    assert _keystone(lab) == KILO_KEYSTONE
    assert {haproxy.current_mode(ctx.pool, n) for n in SEEDS} == {"normal"}


def test_rollback_after_upgrade_control(lab: LabHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    harness.before(lab, 6, tmp_path)  # stages 0..5 done
    ctx = make_ctx(lab.dir)
    baseline = preflight.recorded_baseline(ctx)
    _refusals(lab, capsys, ctx)

    # Interrupted half-way (the original's cluster does not start once), then continued.
    lab.cli("fault", "add", "--node", "node-1", "--op", "pcs cluster start*", "--kind", "fail", "--times", "1",
            "--message", "Error: unable to start all nodes")
    code, _, err = octane(lab, capsys, "rollback", "2", "--discard-seed-writes")
    assert code == 1 and "pcs cluster start" in err, err
    steps = _steps(ctx)
    assert steps["start original cluster"]["status"] == FAILED and steps["isolate seed"]["status"] == DONE
    first = {name: step["started"] for name, step in steps.items() if step["status"] == DONE}

    def late_write(name: str, result: Any) -> None:
        """Someone writes to the original's database as root (read_only does not bind root) once it is back."""
        if name == "original mysql read-only":
            status, out, err = lab.run("node-1", "mysql -e \"INSERT INTO nova.key_pairs (name, user_id, fingerprint, "
                                                 "public_key, deleted) VALUES ('late', 'u', 'f', 'k', 0)\"")
            assert status == 0, out + err

    # Run again (the flag was given to the run that froze the seed): it continues where it stopped.
    done = rollback.run(make_ctx(lab.dir), step_hook=late_write)
    assert done["next"] == "octane upgrade-db 2" and done["vms"] == 12
    writes = lab.inspect()["tenant_writes_by_env"].get("1", 0)
    steps = _steps(ctx)
    assert all(steps[name]["started"] == started for name, started in first.items()), "a done step ran again"
    per_compute = {f"{c}: {what}" for c in COMPUTES for what in ("juno packages", "original rabbit, no pin",
                                                                 "restart services")}
    assert set(steps) == set(ALWAYS + CONTROL_STEPS) | per_compute
    assert all(step["status"] == DONE for step in steps.values())
    # The original's databases differed from the dump (the late write): the dump was restored over them.
    checked = steps["original database"]["result"]
    assert checked["restored"] is True and "nova.key_pairs" in checked["rows differ"], checked
    assert db.query(ctx.pool, "node-2", "SELECT COUNT(*) FROM nova.key_pairs WHERE name = 'late'") == [["0"]]

    # The original serves, the seed is isolated again.
    assert _keystone(lab) == JUNO_KEYSTONE
    assert upgrade_control.address_holders(ctx, ORIGINALS, COMPUTES)["problems"] == []
    for node in SEEDS:
        ports = network.ovs_ports(ctx.pool, node)
        assert not network.patches(ports, "br-mgmt") and network.gre_ports(ports, "br-mgmt"), node
    conn = cloud.from_target(ctx.target, 1)
    assert upgrade_control.write_state(ctx, conn, ORIGINALS)["problems"] == []
    assert not any(db.read_only(ctx.pool, n) for n in ORIGINALS)
    assert upgrade_control.vm_state(ctx, conn, upgrade_control.baseline_vms(ctx), COMPUTES)["problems"] == []
    computes = rollback.compute_state(ctx, conn, COMPUTES, ORIGINALS)
    assert computes["problems"] == [] and set(computes["nova-compute"].values()) == {"up"}
    assert all(v.startswith("1:2014.2") for c in COMPUTES for v in apt.versions(ctx.pool, c, rollback.COMPUTE_JOBS).values())
    assert not any(upgrade_control.pinned(ctx, c) for c in COMPUTES)
    status = ceph.status(ctx.pool, "node-1")
    assert status["fsid"] == baseline["ceph"]["fsid"] and sorted(status["quorum"]) == ORIGINALS
    assert status["health"] == "HEALTH_OK" and "noout" not in ceph.flags(ctx.pool, "node-1")
    for kind, reader in cloud.BASELINE.items():
        assert reader(conn) == baseline["cloud"][kind], f"{kind} differ from the baseline"

    # The lab's ledger: nothing lost but the seed's writes the operator discarded (the tenant deletes
    # again on the original some key pairs whose deletion through the seed was lost).
    found = steps["seed writes"]["result"]["found"]["nova"]["key_pairs"]["listed"]
    wait_for(lambda: lab.inspect()["tenant_writes_by_env"].get("1", 0) > writes,
             "tenant writes to the original again", timeout=20)
    ledger = lab.inspect()
    lost = {i.split("/", 1)[1] for i in ledger["lost_write_ids"]}
    assert _names(found["created"]) <= lost <= _names(found["created"]) | _names(found.get("deleted", [])), lost
    assert ledger["ip_conflicts"] == [] and ledger["open_ip_conflicts"] == [], ledger["ip_conflicts"]
    assert ledger["vms_rebooted"] == 0 and ledger["vms_unreachable"] == []
    assert ledger["bytes_moved"] == 0 and ledger["objects_lost"] == 0

    # The journal: rolled back, ready for upgrade-db, which the lab accepts again.
    assert [ctx.journal.stage_status(s) for s in rollback.STAGES] == [PENDING] * 4
    assert ctx.journal.fact(rollback.HISTORY_FACT)[0]["control was on the seed"] is True
    code, _, err = octane(lab, capsys, "rollback", "2")
    assert code == 2 and "there is nothing to roll back" in err, err
    status_code, seen, output = harness.run(lab, tmp_path / "again.xml", harness.STAGE_FILES[3])
    assert status_code == 0 and set(seen.values()) == {"passed"}, output


# --------------------------------------------------------------------------- after upgrade-ceph


def test_rollback_after_upgrade_ceph(lab: LabHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    harness.before(lab, 3, tmp_path)  # stages 0..2 done: the seed exists, the original was never touched
    code, _, err = octane(lab, capsys, "rollback", "2")
    assert code == 2 and "upgrade-db has not acted on env 1" in err and "nothing to roll back" in err, err
    harness.before(lab, 5, tmp_path)  # stages 0..4 done: the original frozen, noout set for the isolation
    ctx = make_ctx(lab.dir)
    assert "noout" in ceph.flags(ctx.pool, "node-1")
    before = lab.inspect()
    code, out, err = octane(lab, capsys, "rollback", "2")
    assert code == 0, out + err
    steps = _steps(ctx)
    assert list(steps) == ALWAYS  # the seed never served: no control step, no compute touched
    assert steps["ceph"]["result"]["unset"] == ["noout"] and "noout" not in ceph.flags(ctx.pool, "node-1")
    assert ceph.health(ctx.pool, "node-1")[0] == "HEALTH_OK"
    assert _keystone(lab) == JUNO_KEYSTONE
    conn = cloud.from_target(ctx.target, 1)
    assert upgrade_control.write_state(ctx, conn, ORIGINALS)["problems"] == []
    assert not any(db.read_only(ctx.pool, n) for n in ORIGINALS)
    assert ctx.journal.fact(upgrade_db.MAINTENANCE_FACT)["active"] is False
    writes = lab.inspect()["tenant_writes_by_env"].get("1", 0)
    wait_for(lambda: lab.inspect()["tenant_writes_by_env"].get("1", 0) > writes, "tenant writes again", timeout=20)
    after = lab.inspect()
    assert after["lost_writes"] == 0 and after["bytes_moved"] == 0 and after["vms_rebooted"] == 0
    assert after["vm_outage_s"] == before["vm_outage_s"], "a VM lost its network"
    assert [ctx.journal.stage_status(s) for s in rollback.STAGES[:2]] == [PENDING, PENDING]
