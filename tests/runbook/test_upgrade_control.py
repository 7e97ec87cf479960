"""procedure.upgrade_control against the lab, from the state stages 0..4 leave (a checkpoint shared
with the sabotage tests), and the small libs it brought (ini, apt, OVS port records, upstart restart).

A full run switches control to the seed without an IP conflict, a rebooted VM or a lost write (the
lab's ledger agrees) and ends with the APIs writable; a fault on a compute stops the run with the
seed serving and a re-run continues there; a fault during the switch-over puts the original back in
service, frozen as it was, and a re-run switches over anew; a precondition that does not hold is
refused before any change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from runbook.errors import OctaneError
from runbook.journal import DONE, FAILED
from runbook.lib import apt, ceph, db, haproxy, ini, network, neutrondb, upstart
from runbook.procedure import upgrade_control
from runbook.procedure.context import Context
from tests.lab.cloudkit import TIMEOUT, public_vip, wait_for
from tests.labkit import LabHandle
from tests.runbook.ctxkit import make_ctx
from tests.sabotage import harness

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

ORIGINALS = ["node-1", "node-2", "node-3"]
SEEDS = ["node-10", "node-11", "node-12"]
COMPUTES = ["node-4", "node-5", "node-6"]
SWITCH = ["preconditions", "seed monitors", "seed maintenance: haproxy read-only", "rpc pin on seed controllers",
          "seed L3 agents registered", "routers bound to the seed's L3 agents", "seed overlay recorded",
          "stop seed cluster", "stop original cluster", "unplug original", "plug seed", "start seed cluster",
          "start seed services", "addresses answered by the seed", "seed APIs answer", "ceph on the seed monitors",
          "move routers", "data plane"]
AFTER = ["computes in the new control plane", "volumes", "leave maintenance", "verify"]
JUNO_KEYSTONE, KILO_KEYSTONE = "v3.0", "v3.4"


@pytest.fixture
def ready(lab: LabHandle, tmp_path: Path) -> LabHandle:
    """The lab with stages 0..4 done on env 1."""
    harness.before(lab, 5, tmp_path)
    return lab


def _ctx(lab: LabHandle) -> Context:
    """A fresh context, as a new `octane` process opens one."""
    return make_ctx(lab.dir)


def _keystone(lab: LabHandle) -> str:
    """Which keystone answers the public VIP: Juno's (the original) or Kilo's (the seed)."""
    return requests.get(f"http://{public_vip(lab)}:5000/v3", timeout=TIMEOUT).json()["version"]["id"]


def _steps(ctx: Context) -> dict[str, dict[str, Any]]:
    return ctx.journal.stage_record(upgrade_control.STAGE)["steps"]


def _clean_ledger(lab: LabHandle) -> dict[str, Any]:
    ledger = lab.inspect()
    assert ledger["ip_conflicts"] == [] and ledger["open_ip_conflicts"] == [], ledger["ip_conflicts"]
    assert ledger["vms_rebooted"] == 0 and ledger["vms_unreachable"] == [], ledger["vms_unreachable"]
    assert ledger["lost_writes"] == 0 and ledger["bytes_moved"] == 0 and ledger["objects_lost"] == 0
    return ledger


# --------------------------------------------------------------------------- libs


def test_ini_sets_options_and_keeps_everything_else() -> None:
    text = "[DEFAULT]\nhost = node-4\n# rabbit_userid = commented\nrabbit_userid = nova\n\n[libvirt]\nvirt_type = kvm"
    out = ini.set_options(text, {"DEFAULT": {"rabbit_userid": "seed", "rabbit_password": "s3cret"},
                                 "upgrade_levels": {"compute": "juno"}})
    assert out == ("[DEFAULT]\nhost = node-4\n# rabbit_userid = commented\nrabbit_userid = seed\n"
                   "rabbit_password = s3cret\n\n[libvirt]\nvirt_type = kvm\n\n[upgrade_levels]\ncompute = juno\n")
    assert ini.options(out)["DEFAULT"] == {"host": "node-4", "rabbit_userid": "seed", "rabbit_password": "s3cret"}
    assert ini.set_options(out, {"upgrade_levels": {"compute": "juno"}}) == out


def test_router_plan_fills_the_least_loaded_seed_agent_and_leaves_hosted_routers() -> None:
    hosting = {"r1": ["old-a"], "r2": ["old-a", "old-b"], "r3": ["seed-2"], "r4": [], "r5": ["old-b"]}
    assert upgrade_control.plan_routers(hosting, ["seed-2", "seed-1"]) == {
        "r1": "seed-1", "r2": "seed-1", "r4": "seed-2", "r5": "seed-1"}
    assert upgrade_control.plan_routers(hosting, []) == {}
    assert upgrade_control.plan_routers({"r3": ["seed-2"]}, ["seed-2"]) == {}


def test_the_data_plane_resources_start_first() -> None:
    stopped = ["clone_p_heat-engine", "clone_p_neutron-l3-agent", "clone_p_neutron-metadata-agent",
               "clone_p_neutron-plugin-openvswitch-agent", "p_neutron-dhcp-agent"]
    assert upgrade_control.data_plane_first(stopped) == [
        "clone_p_neutron-plugin-openvswitch-agent", "clone_p_neutron-l3-agent", "clone_p_heat-engine",
        "clone_p_neutron-metadata-agent", "p_neutron-dhcp-agent"]


def test_ports_and_jobs_helpers_on_a_node(lab: LabHandle) -> None:
    ctx = _ctx(lab)
    node = "node-4"
    gre = [{"bridge": "br-mgmt", "port": "br-mgmt--gre-test", "remote_ip": "127.0.0.9", "key": 7}]
    network.add_gre(ctx.pool, node, gre)
    network.add_gre(ctx.pool, node, gre)  # present: kept
    ports = network.ovs_ports(ctx.pool, node)
    assert network.gre_ports(ports, "br-mgmt") == [{"port": "br-mgmt--gre-test", "remote_ip": "127.0.0.9", "key": "7"}]
    network.delete_ports(ctx.pool, node, gre)
    network.delete_ports(ctx.pool, node, gre)  # gone: fine
    assert network.gre_ports(network.ovs_ports(ctx.pool, node), "br-mgmt") == []
    upstart.stop(ctx.pool, node, "nova-compute")
    upstart.restart(ctx.pool, node, "nova-compute")  # a stopped job is started
    assert upstart.jobs(ctx.pool, node)["nova-compute"]
    assert apt.versions(ctx.pool, node, ["nova-compute", "no-such-package"]) == {
        "nova-compute": "1:2014.2.2-fuel6.1~mira19"}
    assert apt.add_source(ctx.pool, node, "test", "deb http://127.0.0.2:8080/x/ubuntu/x86_64 x main")
    assert not apt.add_source(ctx.pool, node, "test", "deb http://127.0.0.2:8080/x/ubuntu/x86_64 x main")


# --------------------------------------------------------------------------- upgrade-control


def test_upgrade_control_switches_to_the_seed_and_the_ledger_agrees(ready: LabHandle) -> None:
    ctx = _ctx(ready)
    assert _keystone(ready) == JUNO_KEYSTONE
    writes_before = ready.inspect()["tenant_writes"]
    seen: list[str] = []
    writes: dict[str, int] = {}
    unreachable: dict[str, list[str]] = {}

    def hook(name: str, result: Any) -> None:
        seen.append(name)
        if name == "volumes":  # the last step before maintenance is left
            writes["in maintenance"] = ready.inspect()["tenant_writes"]
        if name in ("routers bound to the seed's L3 agents", "addresses answered by the seed"):
            unreachable[name] = ready.inspect()["vms_unreachable"]

    done = upgrade_control.run(ctx, step_hook=hook)
    per_compute = [f"{c}: upgraded in place" for c in COMPUTES]
    assert seen == SWITCH + per_compute + AFTER and done["attempt"] == 1
    assert done["computes"] == dict.fromkeys(COMPUTES, "up") and done["vms"] == 12
    assert _keystone(ready) == KILO_KEYSTONE
    _clean_ledger(ready)
    # The routers were bound to the seed's L3 agents while isolated, without a VM losing its network;
    # the VMs answered again once those agents started, before the seed's API was first asked: the
    # API's move had nothing left to do.
    steps = _steps(ctx)
    bound = steps["routers bound to the seed's L3 agents"]["result"]
    assert len(bound) == 5 and {b["to"] for b in bound} == set(SEEDS), bound
    assert unreachable == {"routers bound to the seed's L3 agents": [], "addresses answered by the seed": []}
    assert steps["move routers"]["result"] == []
    # The tenant's writes were refused from the dump until maintenance was left; they resume then.
    assert writes["in maintenance"] == writes_before
    wait_for(lambda: ready.inspect()["tenant_writes"] > writes_before, "the tenant's writes to resume", timeout=20)
    # What was unplugged and deleted is journaled, for a rollback.
    unplugged = ctx.journal.fact(upgrade_control.UNPLUGGED_FACT)
    assert sorted(unplugged) == ORIGINALS and all(len(pairs) == 2 for pairs in unplugged.values())
    overlay = ctx.journal.fact(upgrade_control.OVERLAY_FACT)
    assert sorted(overlay) == SEEDS and all(g["bridge"] in ("br-mgmt", "br-ex") for v in overlay.values() for g in v)
    assert ctx.journal.fact(upgrade_control.MAINTENANCE_FACT)["active"] is False
    # The seed's rabbit password went to the computes, never into the journal.
    password = ini.options(ctx.pool.read_text("node-10", upgrade_control.NOVA_CONF))["DEFAULT"]["rabbit_password"]
    assert ini.options(ctx.pool.read_text("node-5", upgrade_control.NOVA_CONF))["DEFAULT"]["rabbit_password"] == password
    assert password not in ctx.journal.path.read_text()
    # libvirt stayed Juno's: the guests were never restarted.
    assert apt.versions(ctx.pool, "node-4", ["libvirt-bin"])["libvirt-bin"].startswith("1.2.9")
    # Done: a second run changes nothing.
    started = {name: step["started"] for name, step in _steps(ctx).items()}
    upgrade_control.run(_ctx(ready))
    assert {name: step["started"] for name, step in _steps(_ctx(ready)).items()} == started


def test_flags_set_for_the_seed_monitors_isolation_are_unset_once_the_osds_are_back(ready: LabHandle) -> None:
    ctx = _ctx(ready)
    status, out, err = ready.run("node-10", "ceph osd set noout")  # as upgrade-ceph would for the isolation
    assert status == 0, out + err
    ctx.journal.fact(upgrade_control.ISOLATION_FLAGS_FACT, ["noout"])
    upgrade_control.run(ctx)
    assert _steps(ctx)["ceph on the seed monitors"]["result"]["unset"] == ["noout"]
    assert "noout" not in ceph.flags(ctx.pool, "node-10")
    assert ceph.health(ctx.pool, "node-10")[0] == "HEALTH_OK"


def test_a_compute_fault_stops_with_the_seed_serving_and_a_rerun_continues(ready: LabHandle) -> None:
    ready.cli("fault", "add", "--node", "node-5", "--op", "apt-get", "--kind", "fail", "--times", "1",
              "--message", "E: Could not get lock /var/lib/dpkg/lock")
    ctx = _ctx(ready)
    with pytest.raises(upgrade_control.UpgradeControlError) as failed:
        upgrade_control.run(ctx)
    assert "node-5" in failed.value.message and "dpkg/lock" in failed.value.message
    assert "not repeated" in failed.value.fix
    steps = _steps(ctx)
    assert steps["node-5: kilo packages"]["status"] == FAILED
    assert steps["node-4: restart services"]["status"] == DONE and steps["node-6: restart services"]["status"] == DONE
    assert "rollback #1" not in steps and not upgrade_control.rollbacks(ctx)
    # Past the point of no return the seed keeps serving (read-only) and the VMs stay reachable.
    assert _keystone(ready) == KILO_KEYSTONE
    _clean_ledger(ready)
    first = {name: step["started"] for name, step in steps.items() if step["status"] == DONE}

    again = _ctx(ready)
    upgrade_control.run(again)
    steps = _steps(again)
    assert again.journal.stage_status(upgrade_control.STAGE) == DONE
    assert all(steps[name]["started"] == started for name, started in first.items()), "a done step ran again"
    assert steps["node-5: kilo packages"]["status"] == DONE
    _clean_ledger(ready)


def test_a_switch_over_fault_rolls_back_to_the_frozen_original_then_a_rerun_switches_again(
        ready: LabHandle) -> None:
    # The seed's cluster does not start once: the switch-over fails after the original was unplugged.
    ready.cli("fault", "add", "--node", "node-10", "--op", "pcs cluster start*", "--kind", "fail", "--times", "1",
              "--message", "Error: unable to start all nodes")
    ctx = _ctx(ready)
    with pytest.raises(upgrade_control.UpgradeControlError) as failed:
        upgrade_control.run(ctx)
    message = failed.value.message
    assert "start seed cluster" in message and "rolled back" in message and "read-only maintenance" in message
    assert "upgrade-control again" in failed.value.fix and "leave_maintenance" in failed.value.fix
    steps = _steps(ctx)
    assert steps["start seed cluster"]["status"] == FAILED and steps["rollback #1"]["status"] == DONE
    assert [r["failed"] for r in upgrade_control.rollbacks(ctx)] == ["start seed cluster"]
    # The original serves again, frozen as stage 3 left it; the seed is isolated on its overlay again.
    assert _keystone(ready) == JUNO_KEYSTONE
    assert all(db.read_only(ctx.pool, n) for n in ORIGINALS)
    assert {haproxy.current_mode(ctx.pool, n) for n in ORIGINALS} == {"read-only"}
    assert upgrade_control.cluster_problems(ctx, SEEDS) == []
    assert all(network.gre_ports(network.ovs_ports(ctx.pool, n), "br-mgmt") for n in SEEDS)
    # ... with what stage 3 had stopped stopped again: its L3 agents, bound to the routers before the cut,
    # must not host them next to the original's.
    assert steps["rollback #1"]["result"]["seed services"] == "stopped"
    assert not any(upstart.jobs(ctx.pool, n).get("neutron-l3-agent") for n in SEEDS)
    _clean_ledger(ready)

    again = _ctx(ready)
    done = upgrade_control.run(again)
    assert done["attempt"] == 2 and again.journal.stage_status(upgrade_control.STAGE) == DONE
    steps = _steps(again)
    assert steps["start seed cluster #2"]["status"] == DONE and steps["preconditions #2"]["status"] == DONE
    assert _keystone(ready) == KILO_KEYSTONE
    _clean_ledger(ready)


def test_a_write_to_the_original_after_the_dump_is_refused_before_any_change(ready: LabHandle) -> None:
    # root is not bound by read_only: someone wrote to the original's database after the dump.
    status, out, err = ready.run("node-1", "mysql -e \"INSERT INTO nova.key_pairs (name, user_id, fingerprint, "
                                           "public_key, deleted) VALUES ('late', 'u', 'f', 'k', 0)\"")
    assert status == 0, out + err
    ctx = _ctx(ready)
    with pytest.raises(upgrade_control.UpgradeControlError) as refused:
        upgrade_control.run(ctx)
    assert "changed since the dump" in refused.value.message and "nothing was changed" in refused.value.fix
    assert [n for n, s in _steps(ctx).items()] == ["preconditions"]
    assert _keystone(ready) == JUNO_KEYSTONE
    assert all(network.patches(network.ovs_ports(ctx.pool, n), "br-mgmt") for n in ORIGINALS)


def test_neutron_bindings_refuse_what_is_not_a_plain_id_before_any_call() -> None:
    with pytest.raises(OctaneError, match="not a plain id"):
        neutrondb.rebind(None, "node-10", {"r1'; DELETE FROM agents; --": "agent"})  # type: ignore[arg-type]
    neutrondb.rebind(None, "node-10", {})  # type: ignore[arg-type] - nothing to do: no call at all
