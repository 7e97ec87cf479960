"""procedure.upgrade_env against the lab: refusals before any change, a re-run after a fault that
continues where it stopped (never cloning or provisioning twice), reuse of a seed the journal missed,
and the isolation it uploads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runbook.config import load_target
from runbook.errors import FuelError, RemoteError
from runbook.journal import DONE, FAILED, Journal
from runbook.lib import network
from runbook.lib.fuel import FuelClient
from runbook.lib.ssh import SSHPool
from runbook.procedure import upgrade_env
from runbook.procedure.context import Context
from tests.labkit import LabHandle
from tests.sabotage import harness

KILO = "2015.1.0-7.0"
STEPS = ["seed controllers", "original", "clone", "check settings", "assign", "copy vips", "provision",
         "deployment info", "deploy", "verify"]


def _ctx(lab_dir: Path) -> Context:
    """A fresh context, as a new `octane` process opens one."""
    target = load_target(lab_dir / "target.yaml")
    return Context(target=target, env_id=target.env, journal=Journal.open(target.journal_dir, target.env),
                   fuel=FuelClient.from_target(target), pool=SSHPool(target, connect_timeout=5, command_timeout=30))


def _fuel_state(ctx: Context) -> tuple[Any, ...]:
    """What a refusal must not change: the envs and every node's membership."""
    nodes = [(n["id"], n["cluster"], n["status"], n["roles"], n["pending_roles"]) for n in ctx.fuel.nodes()]
    return [(e["id"], e["name"], e["status"]) for e in ctx.fuel.envs()], nodes


def _seeds(ctx: Context) -> list[dict[str, Any]]:
    return [e for e in ctx.fuel.envs() if e["name"] == "prod-upgrade"]


@pytest.fixture
def prepared(lab: LabHandle, tmp_path: Path) -> LabHandle:
    """The lab with stages 0 and 1 done on env 1 (a checkpoint shared with the sabotage tests)."""
    harness.before(lab, 2, tmp_path)
    return lab


@pytest.mark.parametrize(("nodes", "says"), [
    ([1, 10, 11], "node 1 (node-1) belongs to env 1"),
    ([10, 11, 99], "node 99 does not exist"),
    ([10, 10, 11], "node ids repeated"),
    ([10, 11], "2 node(s) given; the original has 3 controllers"),
], ids=["allocated", "missing", "repeated", "too-few"])
def test_bad_node_ids_are_refused_before_any_change(prepared: LabHandle, nodes: list[int], says: str) -> None:
    ctx = _ctx(prepared.dir)
    before = _fuel_state(ctx)
    with pytest.raises(upgrade_env.UpgradeEnvError) as refused:
        upgrade_env.run(ctx, nodes=nodes)
    assert says in refused.value.message
    assert "free now: 10 (node-10), 11 (node-11), 12 (node-12)" in refused.value.fix
    assert _fuel_state(ctx) == before and not _seeds(ctx)
    record = ctx.journal.stage_record(upgrade_env.STAGE)
    assert record["status"] == FAILED and says in record["error"]
    assert list(record["steps"]) == ["seed controllers"] and upgrade_env.SEED_FACT not in ctx.journal.facts()


def test_node_ids_after_a_refusal_are_taken_and_kept_by_a_rerun(prepared: LabHandle) -> None:
    ctx = _ctx(prepared.dir)
    with pytest.raises(upgrade_env.UpgradeEnvError):
        upgrade_env.run(ctx, nodes=[1, 2, 3])
    # Nothing was done, so the journal takes other inputs; this run stops at a provisioning fault.
    prepared.cli("fault", "add", "--node", "master", "--op", "provision", "--kind", "task-error", "--times", "1")
    with pytest.raises(FuelError):
        upgrade_env.run(_ctx(prepared.dir), nodes=[12, 10, 11])
    # A re-run without NODE ids (`pytest runbook/stages -k stage2`) continues with those given.
    done = upgrade_env.run(_ctx(prepared.dir))
    assert done["seed_controllers"] == ["node-10", "node-11", "node-12"]
    assert ctx.journal.stage_record(upgrade_env.STAGE)["inputs"]["nodes"] == [10, 11, 12]


def test_rerun_after_a_deployment_fault_continues_without_cloning_twice(prepared: LabHandle) -> None:
    prepared.cli("fault", "add", "--node", "master", "--op", "deployment", "--kind", "task-error", "--times", "1")
    ctx = _ctx(prepared.dir)
    with pytest.raises(FuelError) as failed:
        upgrade_env.run(ctx)
    assert "ended in error" in failed.value.message
    first = ctx.journal.stage_record(upgrade_env.STAGE)
    assert first["status"] == FAILED
    assert [n for n, s in first["steps"].items() if s["status"] == DONE] == STEPS[:STEPS.index("deploy")]
    assert first["steps"]["deploy"]["status"] == FAILED
    seed = ctx.journal.fact(upgrade_env.SEED_FACT)
    assert [e["id"] for e in _seeds(ctx)] == [seed]
    assert {n["status"] for n in ctx.fuel.nodes(seed)} == {"error"}

    hooked: list[str] = []
    again = _ctx(prepared.dir)
    done = upgrade_env.run(again, step_hook=lambda name, result: hooked.append(name))
    assert done == {"seed_env_id": seed, "seed_controllers": ["node-10", "node-11", "node-12"]}
    assert hooked == STEPS
    second = again.journal.stage_record(upgrade_env.STAGE)
    assert second["status"] == DONE
    for name in STEPS[:STEPS.index("deploy")]:  # done steps were not run again
        assert second["steps"][name]["started"] == first["steps"][name]["started"], name
    assert [e["id"] for e in _seeds(again)] == [seed]
    tasks = [(t["name"], t["status"]) for t in again.fuel.tasks(seed)]
    assert tasks == [("provision", "ready"), ("deployment", "error"), ("deployment", "ready")]
    assert {n["status"] for n in again.fuel.nodes(seed)} == {"ready"}
    assert again.journal.fact(upgrade_env.CONTROLLERS_FACT) == ["node-10", "node-11", "node-12"]
    verified = second["steps"]["verify"]["result"]
    assert all(v["quorum"] and v["galera_size"] == "3" for v in verified["cluster"].values())


def test_a_seed_cloned_before_the_journal_recorded_it_is_reused(prepared: LabHandle) -> None:
    ctx = _ctx(prepared.dir)
    # A run that died right after Nailgun's answer to the clone left the seed unrecorded.
    seed = ctx.fuel.upgrade_clone(1, "prod-upgrade", ctx.fuel.release_by_version(KILO)["id"])["id"]
    done = upgrade_env.run(ctx)
    assert done["seed_env_id"] == seed and [e["id"] for e in _seeds(ctx)] == [seed]
    assert ctx.journal.fact(upgrade_env.SEED_FACT) == seed


def test_isolation_unwires_br_mgmt_and_br_ex_and_adds_a_gre_star() -> None:
    def entry(uid: int) -> dict[str, Any]:
        return {"uid": str(uid), "role": "controller", "network_scheme": {"transformations": [
            {"action": "add-br", "name": "br-eth2"}, {"action": "add-port", "bridge": "br-eth2", "name": "eth2"},
            {"action": "add-br", "name": "br-mgmt"},
            {"action": "add-patch", "bridges": ["br-mgmt", "br-eth2"], "tags": [101, 0]},
            {"action": "add-br", "name": "br-ex"}, {"action": "add-port", "bridge": "br-ex", "name": "eth1"},
            {"action": "add-br", "name": "br-storage"},
            {"action": "add-patch", "bridges": ["br-storage", "br-eth2"], "tags": [102, 0]}]}}

    controllers = [{"id": i, "hostname": f"node-{i}", "ip": f"10.20.0.{i}"} for i in (10, 11, 12)]
    info = [entry(10), entry(11), entry(12)]
    out = upgrade_env.isolate(info, controllers)
    assert info[0]["network_scheme"]["transformations"][3]["action"] == "add-patch"  # the input is left alone
    for item in out:
        steps = item["network_scheme"]["transformations"]
        assert not any(upgrade_env._wires(s) for s in steps)
        assert {"action": "add-patch", "bridges": ["br-storage", "br-eth2"], "tags": [102, 0]} in steps
    gre = {item["uid"]: [(s["bridge"], s["options"]["remote_ip"], s["options"]["key"])
                         for s in item["network_scheme"]["transformations"] if s.get("type") == "gre"]
           for item in out}
    hub = "10.20.0.12"
    assert gre["10"] == [("br-mgmt", hub, 1), ("br-ex", hub, 2)]
    assert gre["11"] == [("br-mgmt", hub, 1), ("br-ex", hub, 2)]
    assert sorted(gre["12"]) == sorted([("br-mgmt", "10.20.0.10", 1), ("br-ex", "10.20.0.10", 2),
                                        ("br-mgmt", "10.20.0.11", 1), ("br-ex", "10.20.0.11", 2)])


def test_arp_replies_name_the_holders_mac(shared_lab: LabHandle) -> None:
    ctx = _ctx(shared_lab.dir)
    node1 = ctx.fuel.node(1)
    address = upgrade_env.node_address(node1, "management")
    mac = network.link_macs(ctx.pool, "node-1")["br-mgmt"]
    assert network.arp_replies(ctx.pool, "node-2", address, "br-mgmt") == [mac, mac]
    free = address.rsplit(".", 1)[0] + ".250"
    assert network.arp_replies(ctx.pool, "node-2", free, "br-mgmt") == []
    # Several addresses in one command: each its own replies; a bad device fails naming its arping.
    assert network.arp_replies_many(ctx.pool, "node-2", {free: "br-mgmt", address: "br-mgmt"}) == {
        free: [], address: [mac, mac]}
    with pytest.raises(RemoteError, match="arping -b -c 2 -I br-nope"):
        network.arp_replies_many(ctx.pool, "node-2", {address: "br-mgmt", free: "br-nope"})
    found = upgrade_env.conflicts(ctx, 1)
    assert found["problems"] == [] and len(found["answers"]) == 8  # 2 VIPs, 3 controllers x mgmt/public
