"""The causal rules of DESIGN §4, end to end: each row of the table has its test here.

Each test does what a faulty runbook would do, through the clients the runbook
uses (the Fuel HTTP API and python-fuelclient, commands over SSH,
openstacksdk, TCP probes, `fuellab fault`), and asserts both what the
runbook's own checks would see and what the lab's ledger counts (`fuellab
inspect`). Where a rule's harm is an outage rather than damage, the ledger
assertion is what must *not* be there (no data moved, no guest rebooted).
Waits poll with a deadline; durations come from the lab's clock and the
tenant's write period, never from a sleep that hopes.

`RULES` is the table; `test_every_row_of_the_table_has_a_test` fails when a
row has no test here (or a test here claims no row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from openstack import exceptions as sdk_exc

from tests.lab.cephkit import ceph, ceph_json, conf_fsid, move_mon, osd_ids, osds
from tests.lab.cloudkit import (
    TIMEOUT,
    answering,
    compute_states,
    connect,
    db_rows,
    guests,
    identity_answers,
    keystone_versions,
    public_vip,
    tenant_writes,
    wait_for,
    wait_writes_beyond,
    writes_settled,
)
from tests.lab.seedkit import (
    CONTROLLERS,
    JUNO,
    KILO,
    SEED_HOST,
    SYNC,
    deploy,
    dump,
    enter_maintenance,
    isolated_seed,
    leave_maintenance,
    ok,
    plug_seed,
    restore,
    seed_with_controller,
    switch_control,
    sync,
    unplug_originals,
    versions,
)
from tests.labkit import LabHandle

# openstacksdk's notices about its internals and fuelclient's yaml.load are not the lab's concern.
pytestmark = [pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
              pytest.mark.filterwarnings("ignore:calling yaml.load")]

COMPUTES = ("node-4", "node-5", "node-6")
PIN = "printf '[upgrade_levels]\\ncompute = juno\\n' >> /etc/nova/nova.conf"


@dataclass(frozen=True)
class Rule:
    runbook: str  # "if the runbook…", as DESIGN §4 words it
    lab: str  # "the lab shows"
    tests: tuple[str, ...]  # the test functions of this module that prove it


RULES = (
    Rule("dumps the DB while APIs are writable or writers run",
         "the tenant traffic generator's later writes exist in the original DB but not in the seed: lost writes",
         ("test_dump_while_apis_are_writable_loses_the_later_writes",
          "test_dump_in_read_only_maintenance_loses_no_write")),
    Rule("skips or misorders `db sync`",
         "seed services fail to start or APIs answer 500; `*-manage db version` shows Juno numbers",
         ("test_skipped_or_misordered_db_sync_leaves_juno_schemas_and_500s",)),
    Rule("deploys seed controllers without isolation",
         "duplicate mgmt/public IPs and VIPs: conflicts, flapping API answers",
         ("test_seed_deployed_without_isolation_duplicates_addresses",)),
    Rule("copies Ceph without the original fsid/keys",
         "OSDs refuse the new MONs: no quorum, HEALTH_ERR",
         ("test_ceph_without_the_original_fsid_or_keys_has_no_quorum",)),
    Rule("switches control without unplugging the original",
         "two clusters claim the VIPs",
         ("test_switch_without_unplugging_the_original_leaves_two_clusters_on_the_vips",)),
    Rule("leaves computes on Juno RPC without a pin, or with the original rabbit credentials",
         "nova-compute down in the new control plane",
         ("test_computes_without_the_pin_or_the_planes_rabbit_credentials_are_down",)),
    Rule("reinstalls a compute that still hosts VMs",
         "those VMs stop: unreachable, state ERROR or SHUTOFF",
         ("test_reinstalled_compute_stops_the_vms_it_hosts",)),
    Rule("migrates VMs beyond free capacity",
         "live migration fails (NoValidHost)",
         ("test_migration_beyond_free_capacity_is_no_valid_host",)),
    Rule("reinstalls an OSD node without `noout` or without keeping data",
         "OSDs out, backfill starts: bytes moved > 0; two at once can lose objects",
         ("test_osd_nodes_reinstalled_without_noout_or_kept_data_move_and_lose_data",)),
    Rule("forgets to leave maintenance",
         "APIs keep refusing writes",
         ("test_maintenance_never_left_keeps_refusing_writes",)),
)


# --------------------------------------------------------------------------- an isolated seed, deployed once

SEED_SNAPSHOT = "causal-rules-isolated-seed"


@pytest.fixture(scope="module")
def seed_snapshot(session_lab: LabHandle) -> int:
    """The pristine lab plus a seed env whose controller (node-10) is deployed isolated, saved as a
    snapshot: six rules start from there, and a restore is much faster than a deployment."""
    session_lab.restore("pristine")
    sid = isolated_seed(session_lab)
    session_lab.control.post("/snapshot", {"name": SEED_SNAPSHOT})
    return sid


@pytest.fixture
def seeded(session_lab: LabHandle, seed_snapshot: int) -> tuple[LabHandle, int]:
    """The lab with its isolated seed, restored for this test; (lab, seed env id)."""
    session_lab.restore(SEED_SNAPSHOT)
    return session_lab, seed_snapshot


# --------------------------------------------------------------------------- helpers


def traffic_keypairs(lab, host: str) -> set[str]:
    """The tenant traffic's key pairs in the nova database a controller's MySQL serves."""
    out = ok(lab, host, "mysql -N -e \"SELECT name FROM nova.key_pairs WHERE deleted = 0 "
                        "AND name LIKE 'traffic-%'\"")
    return set(out.split())


def refused_with(status: int, call: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(sdk_exc.HttpException) as refused:
        call(*args, **kwargs)
    assert refused.value.status_code == status, refused.value


def fuel_clients() -> tuple[Any, Any]:
    """python-fuelclient's environment facade and its objects (imported late: see test_fuelclient)."""
    import fuelclient
    from fuelclient import objects

    return fuelclient.get_client("environment"), objects


def finish(objects: Any, task: dict[str, Any]) -> None:
    fresh = objects.Task(task["id"])
    wait_for(lambda: fresh.is_finished, f"task {task['id']}", timeout=30)
    assert fresh.status == "ready", fresh.data


def conflict_holders(summary: dict[str, Any], address: str) -> set[str]:
    return {h for c in summary["ip_conflicts"] if c["address"] == address for h in c["holders"]}


def two_clusters_answer(vip: str) -> None:
    """The public VIP answered in turn by an original controller and the seed's, and by neither
    well: with the management VIP claimed twice too, no keystone reaches its database."""
    answers = identity_answers(vip)
    assert {status for status, _ in answers} == {500}, answers
    serving = {m.group(1) for _, message in answers if (m := re.search(r"keystone on (node-\d+)", message))}
    assert SEED_HOST in serving and serving & set(CONTROLLERS), answers


# --------------------------------------------------------------------------- 1. dump while writable


def test_dump_while_apis_are_writable_loses_the_later_writes(seeded):
    lab, sid = seeded
    at_dump = wait_writes_beyond(lab, tenant_writes(lab))  # the tenant writes through the original's API
    dump(lab)  # no maintenance: the APIs stay writable and the tenant goes on
    wait_writes_beyond(lab, at_dump + 2)
    restore(lab)
    sync(lab)
    seed_has = traffic_keypairs(lab, SEED_HOST)
    switch_control(lab)
    # The original's controllers are off the wire now; its database file is the witness of what it kept.
    orig_has = {r[0] for r in db_rows(lab, "nova", "SELECT name FROM key_pairs WHERE deleted = 0 "
                                                   "AND name LIKE 'traffic-%'")}
    created_after_dump = orig_has - seed_has
    assert created_after_dump, "no write reached the original after the dump"
    # Once the seed serves (it accepted a tenant write), the ledger counts every write it never got:
    # each key pair created after the dump, and each deleted after it (in the seed, not the original).
    lost = wait_for(lambda: lab.inspect()["lost_writes"], "lost writes in the ledger")
    assert len(created_after_dump) <= lost <= len(orig_has ^ seed_has)
    conn = connect(lab, f"env-{sid}")
    tenant = conn.identity.find_user("tenant")
    assert not created_after_dump & {k.name for k in conn.compute.keypairs(user_id=tenant.id)}


def test_dump_in_read_only_maintenance_loses_no_write(seeded):
    lab, _ = seeded
    wait_writes_beyond(lab, tenant_writes(lab))  # the tenant writes through the original's API
    enter_maintenance(lab)
    refused_with(503, connect(lab).compute.create_keypair, name="during-maintenance")
    frozen = writes_settled(lab)
    dump(lab)
    restore(lab)
    sync(lab)
    assert traffic_keypairs(lab, SEED_HOST) == traffic_keypairs(lab, "node-1")
    assert tenant_writes(lab) == frozen, "the original accepted a write in maintenance"
    switch_control(lab)
    wait_writes_beyond(lab, frozen)  # the seed serves and accepts the tenant's writes
    ledger = lab.inspect()
    assert ledger["lost_writes"] == 0, ledger.get("lost_write_ids")


# --------------------------------------------------------------------------- 2. db sync skipped or misordered


def test_skipped_or_misordered_db_sync_leaves_juno_schemas_and_500s(seeded):
    lab, sid = seeded
    vip = public_vip(lab)
    enter_maintenance(lab)
    frozen = writes_settled(lab)
    # Misordered: the seed's own fresh databases synced first, then the dump restored over them.
    sync(lab)
    dump(lab)
    restore(lab)
    assert versions(lab, SEED_HOST) == {**JUNO, "neutron": "juno"}
    assert ok(lab, SEED_HOST, "nova-manage db version").strip() == JUNO["nova"]
    switch_control(lab)
    # Kilo code on Juno schemas: keystone cannot serve, nobody logs in.
    failed = requests.get(f"http://{vip}:5000/v3", timeout=TIMEOUT)
    assert failed.status_code == 500 and "schema version is 55" in failed.json()["error"]["message"]
    with pytest.raises(sdk_exc.SDKException, match="HTTP 500"):
        connect(lab, f"env-{sid}").authorize()

    # Skipped: nova's sync fails and the runbook goes on regardless of its exit status.
    lab.cli("fault", "add", "--node", SEED_HOST, "--op", "nova-manage", "--kind", "fail", "--times", "1",
            "--message", "nova-manage: database is locked")
    failed_steps = [cmd for cmd in SYNC if lab.run(SEED_HOST, cmd)[0] != 0]
    assert failed_steps == ["nova-manage db sync"]
    assert ok(lab, SEED_HOST, "nova-manage db version").strip() == JUNO["nova"]
    assert ok(lab, SEED_HOST, "keystone-manage db_version").strip() == KILO["keystone"]
    conn = connect(lab, f"env-{sid}")
    assert conn.authorize()
    assert list(conn.network.networks())  # the synced services serve
    refused_with(500, lambda: list(conn.compute.servers(all_projects=True)))
    assert writes_settled(lab) == frozen, "a write was accepted by a nova on a Juno schema"

    # The sync done, nova serves and takes the tenant's writes again; nothing was lost on the way.
    ok(lab, SEED_HOST, "nova-manage db sync")
    assert ok(lab, SEED_HOST, "nova-manage db version").strip() == KILO["nova"]
    wait_writes_beyond(lab, frozen)
    ledger = lab.inspect()
    assert ledger["lost_writes"] == 0, ledger.get("lost_write_ids")


# --------------------------------------------------------------------------- 3. seed not isolated


def test_seed_deployed_without_isolation_duplicates_addresses(lab):
    vip = public_vip(lab)
    api, sid = seed_with_controller(lab)
    deploy(api, sid)  # Fuel's default network scheme: br-mgmt and br-ex patched to the wires
    conflicts = lab.status()["ip_conflicts"]
    orig = api.get("clusters/1/network_configuration/neutron")
    assert orig["management_vip"] in conflicts and orig["public_vip"] in conflicts
    # Nailgun hands out node addresses per env: the seed controller got node-1's as well.
    nets = {n["name"]: n["ip"].split("/")[0] for n in api.node(1)["network_data"]}
    assert {nets["management"], nets["public"]} <= set(conflicts)
    summary = lab.inspect()
    recorded = {c["address"] for c in summary["ip_conflicts"]}
    assert {orig["management_vip"], orig["public_vip"], nets["management"]} <= recorded
    assert SEED_HOST in conflict_holders(summary, orig["public_vip"])
    assert len(conflict_holders(summary, orig["public_vip"])) == 2
    two_clusters_answer(vip)


# --------------------------------------------------------------------------- 4. Ceph without fsid/keys


def test_ceph_without_the_original_fsid_or_keys_has_no_quorum(seeded):
    lab, _ = seeded
    osd_host = "node-7"
    orig_fsid, seed_fsid = conf_fsid(lab, "node-1"), conf_fsid(lab, SEED_HOST)
    assert orig_fsid != seed_fsid  # the seed's first deployment made a Ceph cluster of its own
    before = lab.inspect()
    # upgrade-ceph skipped: the seed's MON, its own fsid and keys, takes over node-1's MON address.
    switch_control(lab)
    _, health, _ = ceph(lab, SEED_HOST, "health")
    assert health.startswith("HEALTH_ERR") and "no osds" in health
    assert [n for n in ceph_json(lab, SEED_HOST, "osd tree")["nodes"] if n["type"] == "osd"] == []
    code, _, err = ceph(lab, osd_host, "health --connect-timeout 5", expect=None)
    assert code == 1 and "authentication error" in err  # the OSD node's keys are not the new MON's

    # upgrade-ceph with the original's store and keys, but the seed's fsid left in: the MON refuses to run.
    move_mon(lab, "node-1", SEED_HOST, seed_fsid)
    mon_log = f"cat /var/log/ceph/ceph-mon.{SEED_HOST}.log"  # written when the MON fails to start
    wait_for(lambda: f"!= our uuid {seed_fsid}" in lab.run(SEED_HOST, mon_log)[1], "the MON's refusal in its log")
    for host in (osd_host, SEED_HOST):
        code, out, err = ceph(lab, host, "health --connect-timeout 5", expect=None)
        assert code == 1 and out == "" and err.rstrip().endswith("Cluster connection aborted"), host
    # The data is unreachable, not moved nor gone.
    after = lab.inspect()
    assert after["bytes_moved"] == before["bytes_moved"] and after["objects_lost"] == 0


# --------------------------------------------------------------------------- 5. original not unplugged


def test_switch_without_unplugging_the_original_leaves_two_clusters_on_the_vips(seeded):
    lab, _ = seeded
    vips = next(c for c in lab.status()["clusters"] if c["id"] == 1)["vips"]
    assert lab.inspect()["ip_conflicts"] == []
    dump(lab)
    restore(lab)
    sync(lab)
    plug_seed(lab)  # the seed on the wires, the original controllers still on them
    assert {vips["management"], vips["public"]} <= set(lab.status()["ip_conflicts"])
    summary = lab.inspect()
    assert {vips["management"], vips["public"]} <= set(summary["open_ip_conflicts"])
    for address in (vips["management"], vips["public"]):
        holders = conflict_holders(summary, address)
        assert SEED_HOST in holders and holders & {"node-1", "node-2", "node-3"}, (address, holders)
    two_clusters_answer(vips["public"])
    # Unplugged, the original lets go: one cluster answers, the conflicts end.
    unplug_originals(lab)
    assert keystone_versions(vips["public"]) == {"v3.4"}
    assert lab.inspect()["open_ip_conflicts"] == []


# --------------------------------------------------------------------------- 6. computes on the new plane


def test_computes_without_the_pin_or_the_planes_rabbit_credentials_are_down(seeded):
    lab, sid = seeded
    guests_on = {host: set(ok(lab, host, "virsh list --uuid").split()) for host in COMPUTES}
    dump(lab)
    restore(lab)
    sync(lab)
    switch_control(lab)
    conn = connect(lab, f"env-{sid}")
    # The computes untouched: Juno nova-compute, no pin, under the seed's Kilo conductor.
    assert compute_states(conn) == dict.fromkeys(COMPUTES, "down")
    # The pin on the seed's conductor and on two computes: those join the new control plane.
    ok(lab, SEED_HOST, f"{PIN} && restart nova-conductor")
    for host in COMPUTES[:2]:
        ok(lab, host, f"{PIN} && restart nova-compute")
    # The third pinned too, but still logging in to RabbitMQ with credentials the new plane does not
    # know (the lab's seed inherits the original's rabbit user and password, as Nailgun's clone does,
    # so the stale credentials are written here as they would be after a rotation).
    ok(lab, COMPUTES[2], f"{PIN} && sed -i 's/^rabbit_password = .*/rabbit_password = before-rotation/' "
                         "/etc/nova/nova.conf && restart nova-compute")
    assert compute_states(conn) == {COMPUTES[0]: "up", COMPUTES[1]: "up", COMPUTES[2]: "down"}
    # Down in the control plane is not down in the data plane: every guest still runs where it ran.
    assert {host: set(ok(lab, host, "virsh list --uuid").split()) for host in COMPUTES} == guests_on
    assert lab.inspect()["vms_rebooted"] == 0


# --------------------------------------------------------------------------- 7. compute reinstalled with VMs


def test_reinstalled_compute_stops_the_vms_it_hosts(lab):
    envs, objects = fuel_clients()
    conn = connect(lab)
    servers = guests(conn)
    victims = [s for s in servers if s.compute_host == "node-4"]
    others = [s for s in servers if s.compute_host != "node-4"]
    assert victims

    finish(objects, envs.provision_nodes(1, [4]))
    assert not answering(lab, victims), "the guests died with the reinstall"
    finish(objects, envs.deploy_nodes(1, [4]))
    assert ok(lab, "node-4", "virsh list --all --name").strip() == ""
    # nova-compute is back in the control plane; its power-state sync finds the guests gone.
    wait_for(lambda: {conn.compute.get_server(s.id).status for s in victims} <= {"ERROR", "SHUTOFF"},
             "the lost guests' state")
    assert {conn.compute.get_server(s.id).power_state for s in victims} == {4}
    assert answering(lab, others) == {s.id for s in others}
    summary = lab.inspect()
    assert {s.id for s in victims} <= set(summary["vms_unreachable"])
    assert summary["max_vm_outage_s"] > 0
    # Their outage goes on for as long as nobody brings them back.
    wait_for(lambda: all(lab.inspect()["vm_outage_s"][s.id] > summary["vm_outage_s"][s.id] for s in victims),
             "the victims' outage to grow")
    assert summary["vms_rebooted"] == 0


# --------------------------------------------------------------------------- 8. beyond free capacity


def _fill(conn, host: str, flavor: Any, network: Any) -> int:
    """Boot guests of `flavor` forced onto `host` until the scheduler refuses one; how many fit."""
    booted = 0
    while booted < 30:
        server = conn.compute.create_server(name=f"filler-{booted}", flavor_id=flavor.id,
                                            image_id=next(conn.image.images()).id,
                                            networks=[{"uuid": network.id}],
                                            availability_zone=f"nova:{host}")
        done = wait_for(lambda s=server: (x := conn.compute.get_server(s.id)).status in ("ACTIVE", "ERROR")
                        and x, "the filler to build")
        if done.status == "ERROR":
            return booted
        assert done.compute_host == host
        booted += 1
    raise AssertionError(f"{host} never filled up")


def test_migration_beyond_free_capacity_is_no_valid_host(lab):
    conn = connect(lab)
    xlarge = conn.compute.find_flavor("m1.xlarge")
    network = conn.network.find_network("net04")
    # A big guest on node-4 to move, then node-5 filled with big guests until nothing fits.
    big = conn.compute.create_server(name="big", flavor_id=xlarge.id, image_id=next(conn.image.images()).id,
                                     networks=[{"uuid": network.id}], availability_zone="nova:node-4")
    wait_for(lambda: conn.compute.get_server(big.id).status == "ACTIVE", "the big guest")
    assert _fill(conn, "node-5", xlarge, network) >= 5
    with pytest.raises(sdk_exc.BadRequestException, match="No valid host"):
        conn.compute.live_migrate_server(big, host="node-5", block_migration=False, force=True)
    after = conn.compute.get_server(big.id)
    assert (after.compute_host, after.status) == ("node-4", "ACTIVE")
    # Refused before anything moved: no migration ran, the guest never paused.
    summary = lab.inspect()
    assert summary["live_migrations"] == {"completed": 0, "failed": 0}
    assert summary["vm_outage_s"][big.id] == 0
    # With room elsewhere the scheduler still finds a host (node-6), never the full one.
    conn.compute.live_migrate_server(big, host=None, block_migration=False)
    moved = wait_for(lambda: (s := conn.compute.get_server(big.id)).compute_host != "node-4"
                     and s.status == "ACTIVE" and s, "the scheduled migration")
    assert moved.compute_host == "node-6"
    assert lab.inspect()["live_migrations"]["completed"] == 1


# --------------------------------------------------------------------------- 9. OSD nodes reinstalled


def test_osd_nodes_reinstalled_without_noout_or_kept_data_move_and_lose_data(lab):
    envs, objects = fuel_clients()
    ctrl = "node-1"
    before = lab.inspect()
    assert before["bytes_moved"] == 0 and before["objects_lost"] == 0
    assert "noout" not in ceph(lab, ctrl, "osd dump")[1]
    # One node, its Ceph volumes kept but no noout: down through provisioning, past the
    # down-out interval, its OSDs are marked out and their data backfills elsewhere.
    node = objects.Node(9)
    disks = node.get_attribute("disks")
    for disk in disks:
        for volume in disk["volumes"]:
            volume["keep_data"] = volume["keep_data"] or volume["name"] == "ceph"
    node.upload_node_attribute("disks", disks)
    ids = osd_ids(lab, "node-9")
    provisioning = envs.provision_nodes(1, [9])
    wait_for(lambda: all(osds(lab)[i]["reweight"] == 0.0 for i in ids), "node-9's OSDs marked out")
    assert lab.inspect()["bytes_moved"] > 0
    finish(objects, provisioning)
    finish(objects, envs.deploy_nodes(1, [9]))
    state = osds(lab)
    assert osd_ids(lab, "node-9") == ids  # the kept data came back as the same OSDs
    assert all(state[i]["status"] == "up" and state[i]["reweight"] == 1.0 for i in ids)
    assert lab.inspect()["objects_lost"] == 0

    # Two nodes at once, data not kept: objects whose two replicas were on them are gone.
    finish(objects, envs.provision_nodes(1, [7, 8]))
    finish(objects, envs.deploy_nodes(1, [7, 8]))
    health = wait_for(lambda: "pgs incomplete" in (h := ceph(lab, ctrl, "health")[1]) and h, "incomplete PGs")
    assert health.startswith("HEALTH_WARN")
    results = [lab.run(ctrl, f"rados -p {pool} ls") for pool in ("images", "volumes")]
    assert any(code == 1 and "incomplete" in err for code, _, err in results)
    assert lab.inspect()["objects_lost"] > 0


# --------------------------------------------------------------------------- 10. maintenance never left


def test_maintenance_never_left_keeps_refusing_writes(lab):
    wait_writes_beyond(lab, 0)
    enter_maintenance(lab)
    frozen = writes_settled(lab)
    # Later steps restart HAProxy for their own reasons; it reads the same files and stays read-only.
    ok(lab, "node-2", "crm resource restart p_haproxy")
    conn = connect(lab)
    assert list(conn.compute.servers(all_projects=True)), "reads are answered in maintenance"
    refused_with(503, conn.compute.create_keypair, name="after-the-upgrade")
    refused_with(503, conn.network.create_network, name="after-the-upgrade")
    assert not db_rows(lab, "neutron", "SELECT id FROM networks WHERE name = 'after-the-upgrade'")
    assert writes_settled(lab) == frozen, "the tenant got a write through"
    # Leaving maintenance is what makes the APIs writable again.
    leave_maintenance(lab)
    conn.network.delete_network(conn.network.create_network(name="after-maintenance"))
    wait_writes_beyond(lab, frozen)


# --------------------------------------------------------------------------- the table


def test_every_row_of_the_table_has_a_test():
    functions = {name for name, value in globals().items() if name.startswith("test_") and callable(value)}
    claimed = {name for rule in RULES for name in rule.tests}
    assert len({rule.runbook for rule in RULES}) == len(RULES), "a row twice in the table"
    for rule in RULES:
        assert rule.tests, f"no test for: if the runbook {rule.runbook}"
        missing = set(rule.tests) - functions
        assert not missing, f"{rule.runbook}: no such test {sorted(missing)}"
    assert functions - claimed == {"test_every_row_of_the_table_has_a_test"}, "a test here claims no row"
