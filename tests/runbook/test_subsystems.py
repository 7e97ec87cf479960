"""runbook.lib db/ceph/pacemaker/haproxy/network against the lab's controllers, through SSHPool."""

from __future__ import annotations

import openstack.exceptions as sdk_exc
import pytest

from runbook.config import load_target
from runbook.errors import RemoteError
from runbook.lib import ceph, db, haproxy, network, pacemaker
from runbook.lib.ssh import SSHPool
from tests.lab.cloudkit import connect

CTRL = "node-1"
SERVICES = ("nova", "keystone", "cinder", "glance", "heat", "neutron")


@pytest.fixture
def pool(session_lab):
    with SSHPool(load_target(session_lab.dir / "target.yaml"), connect_timeout=5, command_timeout=30) as pool:
        yield pool


# ------------------------------------------------------------------ db


def test_db_reads_on_pristine_lab(shared_lab, pool):
    assert set(SERVICES) <= set(db.databases(pool, CTRL))
    counts = db.row_counts(pool, CTRL, "nova")
    assert counts["instances"] == int(db.query(pool, CTRL, "SELECT COUNT(*) FROM nova.instances")[0][0]) > 0
    assert "migrate_version" in db.row_counts(pool, CTRL, "keystone")
    wsrep = db.wsrep_status(pool, CTRL)
    assert wsrep["wsrep_local_state_comment"] == "Synced" and wsrep["wsrep_cluster_size"] == "3"
    # Env 1 is 6.1: Juno schema heads.
    versions = {s: db.schema_version(pool, CTRL, s) for s in SERVICES}
    assert versions == {"nova": 254, "keystone": 55, "cinder": 26, "glance": 35, "heat": 47, "neutron": "juno"}


def test_read_only_toggles(lab, pool):
    db.set_read_only(pool, CTRL, True)
    assert db.read_only(pool, CTRL)
    db.set_read_only(pool, CTRL, False)
    assert not db.read_only(pool, CTRL)


def test_dump_restore_roundtrip_and_dump_failure_raises(lab, pool):
    before = db.row_counts(pool, CTRL, "keystone")
    db.dump(pool, CTRL, ["keystone"], "/root/keystone.sql.gz")
    assert "CREATE DATABASE" in pool.check(CTRL, "zcat /root/keystone.sql.gz").stdout
    db.query(pool, CTRL, "DROP DATABASE keystone")
    assert "keystone" not in db.databases(pool, CTRL)
    db.restore(pool, CTRL, "/root/keystone.sql.gz")
    assert db.row_counts(pool, CTRL, "keystone") == before
    lab.cli("fault", "add", "--node", CTRL, "--op", "mysqldump", "--kind", "fail")
    with pytest.raises(RemoteError) as caught:
        db.dump(pool, CTRL, ["nova"], "/root/nova.sql.gz")  # gzip succeeds: only pipefail reveals it
    assert caught.value.node == CTRL and "mysqldump" in caught.value.command and caught.value.fix


# ------------------------------------------------------------------ ceph


def test_ceph_reads_on_pristine_lab(shared_lab, pool):
    status = ceph.status(pool, CTRL)
    quorum = ceph.quorum(pool, CTRL)
    assert status["health"] == "HEALTH_OK" and ceph.health(pool, CTRL) == ("HEALTH_OK", [])
    assert status["fsid"] == quorum["fsid"] == ceph.fsid(pool, CTRL)
    assert set(quorum["names"]) == {n["hostname"] for n in shared_lab.nodes_with_role("controller")}
    osds = ceph.osd_tree(pool, CTRL)
    assert osds and all(o["up"] and o["in"] for o in osds)
    assert {o["host"] for o in osds} == {n["hostname"] for n in shared_lab.nodes_with_role("ceph-osd")}
    assert status["osds"]["total"] == len(osds)
    pgs = ceph.pg_stat(pool, CTRL)
    assert pgs["by_state"] == {"active+clean": pgs["num_pgs"]} and pgs["num_pgs"] == status["num_pgs"]


def test_ceph_noout_flag_and_lost_quorum(lab, pool):
    ceph.set_flag(pool, CTRL, "noout")
    assert "noout" in ceph.flags(pool, CTRL)
    ceph.unset_flag(pool, CTRL, "noout")
    assert "noout" not in ceph.flags(pool, CTRL)
    for node in ("node-2", "node-3"):
        pool.check(node, f"stop ceph-mon id={node}")
    with pytest.raises(RemoteError, match="no monitor quorum") as caught:
        ceph.status(pool, CTRL)
    assert caught.value.node == CTRL and "ceph-mon" in caught.value.fix


# ------------------------------------------------------------------ pacemaker


def test_pacemaker_status_and_resource_control(lab, pool):
    status = pacemaker.status(pool, CTRL)
    controllers = {n["hostname"] for n in lab.nodes_with_role("controller")}
    assert status["quorum"] and status["nodes"] == dict.fromkeys(controllers, True)
    assert {p["node"] for p in status["resources"]["p_haproxy"]} == controllers
    assert {p["role"] for p in status["resources"]["p_rabbitmq-server"]} == {"Master", "Slave"}
    pacemaker.resource_stop(pool, CTRL, "p_heat-engine")
    assert pacemaker.status(pool, CTRL)["resources"]["p_heat-engine"] == []
    pacemaker.resource_start(pool, CTRL, "p_heat-engine")
    assert len(pacemaker.status(pool, CTRL)["resources"]["p_heat-engine"]) == len(controllers)
    with pytest.raises(RemoteError) as caught:
        pacemaker.resource_stop(pool, CTRL, "p_no_such_resource")
    assert caught.value.node == CTRL and caught.value.fix
    pacemaker.cluster_stop(pool, "node-3")
    assert pacemaker.status(pool, CTRL)["nodes"]["node-3"] is False
    pacemaker.cluster_start(pool, "node-3")
    assert pacemaker.status(pool, CTRL)["nodes"]["node-3"] is True


# ------------------------------------------------------------------ haproxy


def test_haproxy_read_only_refuses_writes_and_normal_restores(lab, pool):
    controllers = [n["hostname"] for n in lab.nodes_with_role("controller")]
    originals = {n: pool.read_text(n, "/etc/haproxy/conf.d/8774-nova-api-2.cfg") for n in controllers}
    main = pool.read_text(CTRL, haproxy.MAIN)
    for node in controllers:
        assert haproxy.set_mode(pool, node, "read-only")
        assert haproxy.set_mode(pool, node, "read-only") == []  # idempotent
        assert haproxy.current_mode(pool, node) == "read-only"
    keystone = pool.read_text(CTRL, "/etc/haproxy/conf.d/5000-keystone-1.cfg")
    assert haproxy.MARK not in keystone
    haproxy.restart(pool, CTRL)
    conn = connect(lab)
    assert list(conn.compute.flavors())  # GET passes (keystone still issues the token)
    with pytest.raises(sdk_exc.HttpException) as refused:
        conn.compute.create_keypair(name="octane-read-only")
    assert refused.value.status_code == 503
    for node in controllers:
        assert haproxy.set_mode(pool, node, "normal")
        assert pool.read_text(node, "/etc/haproxy/conf.d/8774-nova-api-2.cfg") == originals[node]
    assert pool.read_text(CTRL, haproxy.MAIN) == main
    haproxy.restart(pool, CTRL)
    conn = connect(lab)
    conn.compute.delete_keypair(conn.compute.create_keypair(name="octane-normal"))


# ------------------------------------------------------------------ network


def test_unplug_takes_management_off_the_wire_and_plug_restores(lab, pool):
    ports = network.ovs_ports(pool, CTRL)
    assert ports["br-mgmt"]["br-mgmt--br-eth2"]["type"] == "patch"
    mgmt = next(a.split("/")[0] for a in network.addresses(pool, CTRL)["br-mgmt"])
    assert {h["node"] for h in lab.control.get(f"/addresses/{mgmt}")["live"]} == {CTRL}
    removed = network.unplug(pool, CTRL)
    assert {(r["bridge"], r["peer_bridge"]) for r in removed} == {("br-mgmt", "br-eth2"), ("br-ex", "br-eth1")}
    assert lab.control.get(f"/addresses/{mgmt}")["live"] == []
    assert mgmt + "/16" in network.addresses(pool, CTRL)["br-mgmt"]  # the address stays, the wire is gone
    assert network.unplug(pool, CTRL) == []
    network.plug(pool, CTRL, removed)
    assert network.ovs_ports(pool, CTRL) == ports
    assert {h["node"] for h in lab.control.get(f"/addresses/{mgmt}")["live"]} == {CTRL}
