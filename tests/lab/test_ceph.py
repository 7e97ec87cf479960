"""The lab's Ceph over SSH: monitors and quorum, OSDs, noout and backfill, moving a MON store.

Env 1 of the default scenario: MONs on the 3 controllers, 2 OSDs on each of the
3 ceph-osd nodes, images and volumes stored as RBD images. Everything is
asked with the `ceph` tool on the nodes, as an operator or the runbook would.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.lab.cephkit import (
    OTHER_FSID,
    ceph,
    ceph_json,
    conf_fsid,
    controllers,
    mgmt_ip,
    move_mon,
    osd_ids,
    osd_nodes,
    osds,
    stop_osds,
    wait_lab_time,
    wait_until,
)
from tests.labkit import LabHandle

# --------------------------------------------------------------------------- read-only


def test_health_ok_on_a_controller_and_an_osd_node(shared_lab: LabHandle) -> None:
    for host in (controllers(shared_lab)[0], osd_nodes(shared_lab)[0]):
        _, out, _ = ceph(shared_lab, host, "-s")
        assert "health HEALTH_OK" in out
        assert "6 osds: 6 up, 6 in" in out
        assert re.search(r"quorum 0,1,2 node-\d+,node-\d+,node-\d+", out)
        assert ceph(shared_lab, host, "health")[1] == "HEALTH_OK\n"
        assert ceph(shared_lab, host, "health detail")[1] == "HEALTH_OK\n"


def test_quorum_status_names_the_controllers_and_the_conf_fsid(shared_lab: LabHandle) -> None:
    host = controllers(shared_lab)[0]
    status = ceph_json(shared_lab, host, "quorum_status")
    assert status["quorum_names"] == controllers(shared_lab)
    assert status["quorum"] == [0, 1, 2]
    assert status["quorum_leader_name"] == controllers(shared_lab)[0]
    assert status["monmap"]["fsid"] == conf_fsid(shared_lab, host)
    assert [m["name"] for m in status["monmap"]["mons"]] == controllers(shared_lab)
    assert all(m["addr"].endswith(":6789/0") for m in status["monmap"]["mons"])
    _, dump, err = ceph(shared_lab, host, "mon dump")
    assert "dumped monmap epoch" in err and f"fsid {status['monmap']['fsid']}" in dump


def test_osd_tree_shows_six_osds_up_and_in_on_their_hosts(shared_lab: LabHandle) -> None:
    tree = ceph_json(shared_lab, controllers(shared_lab)[0], "osd tree")
    hosts = {n["name"]: n["children"] for n in tree["nodes"] if n["type"] == "host"}
    assert sorted(hosts) == osd_nodes(shared_lab)
    assert all(len(children) == 2 for children in hosts.values())
    found = [n for n in tree["nodes"] if n["type"] == "osd"]
    assert sorted(n["id"] for n in found) == list(range(6))
    assert all(n["status"] == "up" and n["reweight"] == 1.0 for n in found)


def test_pools_and_data_are_there(shared_lab: LabHandle) -> None:
    host = controllers(shared_lab)[0]
    _, pools, _ = ceph(shared_lab, host, "osd lspools")
    for pool in ("images", "volumes", "compute", "backups"):
        assert f" {pool}," in pools
    assert ceph(shared_lab, host, "osd pool get volumes size")[1] == "size: 2\n"
    for pool in ("images", "volumes", "compute"):
        _, images, _ = shared_lab.run(host, f"rbd ls {pool}")
        _, objects, _ = shared_lab.run(host, f"rados -p {pool} ls")
        assert images.split(), f"no RBD image in {pool}"
        assert sorted(images.split()) == sorted(o[len("rbd_id."):] for o in objects.split()
                                                if o.startswith("rbd_id."))
        first = images.split()[0]
        _, info, _ = shared_lab.run(host, f"rbd info {pool}/{first}")
        assert info.startswith(f"rbd image '{first}':") and "format: 2" in info
    _, stat, _ = ceph(shared_lab, host, "pg stat")
    assert "448 pgs: 448 active+clean" in stat


# --------------------------------------------------------------------------- reaching the monitors


def test_a_conf_naming_only_unreachable_monitors_gets_no_answer(lab: LabHandle) -> None:
    osd_host = osd_nodes(lab)[0]
    compute = sorted(n["hostname"] for n in lab.nodes_with_role("compute"))[0]
    _, compute_ip, _ = lab.run(compute, "grep '^my_ip' /etc/nova/nova.conf")
    nowhere = compute_ip.split("=", 1)[1].strip()  # a live address where no monitor listens
    lab.run(osd_host, f"sed 's/^mon_host = .*/mon_host = {nowhere}/' /etc/ceph/ceph.conf > /tmp/bad.conf")
    status, out, err = ceph(lab, osd_host, "-c /tmp/bad.conf quorum_status --connect-timeout 5", expect=None)
    assert status == 1 and out == ""
    assert f">> {nowhere}:6789/0 pipe(" in err and ").fault" in err
    assert err.rstrip().endswith("Cluster connection aborted")
    # One monitor it can reach is enough: the answer is the whole quorum's.
    second = mgmt_ip(lab, controllers(lab)[1])
    lab.run(osd_host, f"sed 's/^mon_host = .*/mon_host = {nowhere} {second}/' /etc/ceph/ceph.conf > /tmp/one.conf")
    status_json = ceph_json(lab, osd_host, "-c /tmp/one.conf quorum_status")
    assert status_json["quorum_names"] == controllers(lab)


def test_an_osd_node_cut_from_the_management_network_reaches_no_monitor(lab: LabHandle) -> None:
    host = osd_nodes(lab)[-1]
    ids = osd_ids(lab, host)
    status, _, err = lab.run(host, "ovs-vsctl del-port br-mgmt br-mgmt--br-eth2")
    assert status == 0, err
    code, out, err = ceph(lab, host, "quorum_status --connect-timeout 5", expect=None)
    assert code == 1 and out == "" and err.count(").fault") >= 3
    assert err.rstrip().endswith("Cluster connection aborted")
    # Its OSDs reach no monitor either: down, and out once the interval is over.
    assert all(osds(lab)[i]["status"] == "down" for i in ids)
    wait_until(lambda: all(osds(lab)[i]["reweight"] == 0.0 for i in ids))
    assert lab.inspect()["bytes_moved"] > 0
    # Every monitor's cluster log keeps the event, as LogMonitor writes it.
    for c in controllers(lab):
        outs = [line for line in cluster_log(lab, c).splitlines() if " out (down for " in line]
        assert sorted(line.split(" : [INF] ")[1].split()[0] for line in outs) == [f"osd.{i}" for i in sorted(ids)]
        assert all(float(line.rsplit("down for ", 1)[1].rstrip(")")) >= 300 for line in outs)


def test_a_wrong_key_or_fsid_is_refused(lab: LabHandle) -> None:
    host = osd_nodes(lab)[0]
    lab.run(host, "ceph-authtool --create-keyring /tmp/other.keyring --gen-key -n client.admin")
    status, _, err = ceph(lab, host, "-k /tmp/other.keyring health", expect=None)
    assert status == 1 and "authentication error" in err and "PermissionError" in err
    lab.run(host, f"sed 's/^fsid = .*/fsid = {OTHER_FSID}/' /etc/ceph/ceph.conf > /tmp/fsid.conf")
    status, _, err = ceph(lab, host, "-c /tmp/fsid.conf health", expect=None)
    assert status == 1 and "wrong fsid" in err


def test_one_monitor_down_keeps_the_quorum_two_lose_it(lab: LabHandle) -> None:
    first, second, third = controllers(lab)
    assert lab.run(third, f"stop ceph-mon id={third}")[0] == 0
    status = ceph_json(lab, first, "quorum_status")
    assert status["quorum_names"] == [first, second]
    _, health, _ = ceph(lab, first, "health detail")
    assert health.startswith(f"HEALTH_WARN 1 mons down, quorum 0,1 {first},{second}")
    assert f"mon.{third} (rank 2)" in health
    assert lab.run(second, f"stop ceph-mon id={second}")[0] == 0
    code, out, err = ceph(lab, first, "health --connect-timeout 5", expect=None)
    assert code == 1 and out == "" and "Cluster connection aborted" in err
    assert lab.run(second, f"start ceph-mon id={second}")[0] == 0
    assert lab.run(third, f"start ceph-mon id={third}")[0] == 0
    assert ceph(lab, first, "health")[1] == "HEALTH_OK\n"
    assert ceph_json(lab, first, "quorum_status")["election_epoch"] > status["election_epoch"]


# --------------------------------------------------------------------------- OSDs: noout and backfill


def test_osds_stopped_under_noout_stay_in_and_move_nothing(lab: LabHandle) -> None:
    ctrl, host = controllers(lab)[0], osd_nodes(lab)[-1]
    before = lab.inspect()["bytes_moved"]
    assert ceph(lab, ctrl, "osd set noout")[2] == "set noout\n"
    ids = stop_osds(lab, host)
    wait_lab_time(lab, 450)  # past mon_osd_down_out_interval (300)
    state = osds(lab)
    assert all(state[i]["status"] == "down" and state[i]["reweight"] == 1.0 for i in ids)
    _, health, _ = ceph(lab, ctrl, "health")
    assert health.startswith("HEALTH_WARN") and "2/6 in osds are down" in health
    assert "noout flag(s) set" in health and "pgs degraded" in health
    assert lab.inspect()["bytes_moved"] == before
    assert lab.run(host, " && ".join(f"start ceph-osd id={i}" for i in ids))[0] == 0
    assert ceph(lab, ctrl, "health")[1] == "HEALTH_WARN noout flag(s) set\n"
    ceph(lab, ctrl, "osd unset noout")
    assert ceph(lab, ctrl, "health")[1] == "HEALTH_OK\n"
    assert lab.inspect()["bytes_moved"] == before
    # Nothing went out: the monitors' cluster log says nothing of it.
    assert all(" out (down for " not in cluster_log(lab, c) for c in controllers(lab))


def test_osds_down_past_the_interval_without_noout_go_out_and_backfill(lab: LabHandle) -> None:
    ctrl, host = controllers(lab)[0], osd_nodes(lab)[-1]
    ids = stop_osds(lab, host)
    wait_until(lambda: all(osds(lab)[i]["reweight"] == 0.0 for i in ids))
    assert lab.inspect()["bytes_moved"] > 0
    # Every monitor's cluster log keeps the event, as LogMonitor writes it.
    for c in controllers(lab):
        outs = [line for line in cluster_log(lab, c).splitlines() if " out (down for " in line]
        assert sorted(line.split(" : [INF] ")[1].split()[0] for line in outs) == [f"osd.{i}" for i in sorted(ids)]
        assert all(float(line.rsplit("down for ", 1)[1].rstrip(")")) >= 300 for line in outs)
    # The two hosts left hold both replicas again: clean, and every image still reads back.
    assert ceph(lab, ctrl, "health")[1] == "HEALTH_OK\n"
    _, images, _ = lab.run(ctrl, "rbd ls images")
    for image in images.split():
        assert lab.run(ctrl, f"rbd info images/{image}")[0] == 0
    # Coming back, they are marked in again and the data moves back.
    moved = lab.inspect()["bytes_moved"]
    assert lab.run(host, " && ".join(f"start ceph-osd id={i}" for i in ids))[0] == 0
    state = osds(lab)
    assert all(state[i]["status"] == "up" and state[i]["reweight"] == 1.0 for i in ids)
    assert ceph(lab, ctrl, "health")[1] == "HEALTH_OK\n"
    assert lab.inspect()["bytes_moved"] >= moved


def cluster_log(lab: LabHandle, host: str) -> str:
    status, out, _ = lab.run(host, "cat /var/log/ceph/ceph.log")
    return out if status == 0 else ""


def test_two_osd_nodes_wiped_at_once_lose_objects(lab: LabHandle) -> None:
    ctrl = controllers(lab)[0]
    events = lab.inspect()["events"]
    # "At once": under noout while both are wiped, so that a loaded machine taking longer than
    # the down-out interval (0.3 s wall) between the two hosts does not let the first one's data
    # backfill onto the second before it is wiped too.
    assert ceph(lab, ctrl, "osd set noout")[0] == 0
    for host in osd_nodes(lab)[:2]:
        for osd_id in stop_osds(lab, host):
            assert lab.run(host, f"rm -rf /var/lib/ceph/osd/ceph-{osd_id}/current")[0] == 0
    assert ceph(lab, ctrl, "osd unset noout")[0] == 0

    def incomplete() -> str | None:
        health = ceph(lab, ctrl, "health")[1]
        return health if "pgs incomplete" in health else None

    health = wait_until(incomplete)
    assert health.startswith("HEALTH_WARN")
    assert lab.inspect()["events"] > events
    # Objects whose two replicas were on the wiped hosts are gone: their PGs never answer.
    results = [lab.run(ctrl, f"rados -p {pool} ls") for pool in ("images", "volumes")]
    assert any(code == 1 and "incomplete" in err for code, _, err in results)


# --------------------------------------------------------------------------- moving a monitor store


def test_a_mon_store_moved_with_the_original_fsid_joins_the_quorum(lab: LabHandle) -> None:
    first, second, third = controllers(lab)
    fsid = conf_fsid(lab, first)
    results = move_mon(lab, first, third, fsid)
    assert "wrote monmap to /tmp/monmap" in results[1][2]
    assert f"set fsid to {fsid}" in results[7][1]
    status = ceph_json(lab, third, "quorum_status")
    assert status["quorum_names"] == [first, second, third]
    assert status["monmap"]["fsid"] == fsid
    _, out, _ = ceph(lab, third, "-s")
    assert "health HEALTH_OK" in out and "6 osds: 6 up, 6 in" in out
    assert lab.run(third, f"status ceph-mon id={third}")[1].startswith(f"ceph-mon ({third}) start/running")
    # The moved monitor is a full member: the quorum holds with the other two stopped one at a time.
    assert lab.run(first, f"stop ceph-mon id={first}")[0] == 0
    assert ceph_json(lab, second, "quorum_status")["quorum_names"] == [second, third]


def mon_status(lab: LabHandle, host: str, mon_id: str) -> tuple[int, dict | None, str]:
    """`ceph daemon mon.<id> mon_status` on `host`: (exit status, the JSON answer, stderr)."""
    code, out, err = lab.run(host, f"ceph daemon mon.{mon_id} mon_status")
    return code, (json.loads(out) if code == 0 else None), err


def test_admin_socket_answers_without_a_quorum_with_the_monitors_own_map(lab: LabHandle) -> None:
    first, second, third = controllers(lab)
    fsid = conf_fsid(lab, first)
    code, status, _ = mon_status(lab, first, first)
    assert code == 0 and status["state"] in ("leader", "peon") and status["rank"] == 0
    assert status["monmap"]["fsid"] == fsid and [m["name"] for m in status["monmap"]["mons"]] == [first, second, third]
    assert mon_status(lab, first, second)[2].startswith("admin_socket:")  # mon.<second> runs elsewhere
    # A monitor whose injected map lacks it keeps running, alone and probing, and says so.
    steps = [f"stop ceph-mon id={third}", f"ceph-mon -i {third} --extract-monmap /tmp/m",
             f"monmaptool --rm {third} /tmp/m", f"ceph-mon -i {third} --inject-monmap /tmp/m",
             f"start ceph-mon id={third}"]
    assert lab.run(third, " && ".join(steps))[0] == 0
    code, status, _ = mon_status(lab, third, third)
    assert code == 0 and (status["state"], status["rank"], status["quorum"]) == ("probing", -1, [])
    assert [m["name"] for m in status["monmap"]["mons"]] == [first, second]
    # A stopped monitor has no socket.
    assert lab.run(second, f"stop ceph-mon id={second}")[0] == 0
    code, status, err = mon_status(lab, second, second)
    assert (code, status) == (22, None) and "No such file or directory" in err


def test_a_mon_store_injected_with_another_fsid_is_refused(lab: LabHandle) -> None:
    first, second, third = controllers(lab)
    move_mon(lab, first, third, OTHER_FSID)
    status = ceph_json(lab, first, "quorum_status")
    assert status["quorum_names"] == [first, second]
    code, _, err = lab.run(third, f"status ceph-mon id={third}")
    assert code != 0 and "Unknown instance" in err
    _, log, _ = lab.run(third, f"cat /var/log/ceph/ceph-mon.{third}.log")
    assert f"!= our uuid {OTHER_FSID}" in log
    # Its own ceph.conf now names another fsid: the quorum refuses it.
    code, _, err = ceph(lab, third, "health", expect=None)
    assert code == 1 and "wrong fsid" in err


def test_osds_refuse_monitors_of_another_cluster(lab: LabHandle) -> None:
    """A monitor made with another fsid (a new cluster): OSDs whose conf names only it go down."""
    first, _, third = controllers(lab)
    osd_host = osd_nodes(lab)[0]
    ip = mgmt_ip(lab, third)
    for step in (
        f"stop ceph-mon id={third}",
        f"rm -rf /var/lib/ceph/mon/ceph-{third}",
        f"monmaptool --create --fsid {OTHER_FSID} --add {third} {ip}:6789 /tmp/other.monmap",
        "ceph-authtool --create-keyring /tmp/other.keyring --gen-key -n mon. --cap mon 'allow *'",
        "ceph-authtool /tmp/other.keyring --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *'",
        f"ceph-mon --mkfs -i {third} --monmap /tmp/other.monmap --keyring /tmp/other.keyring",
        f"touch /var/lib/ceph/mon/ceph-{third}/done /var/lib/ceph/mon/ceph-{third}/upstart",
        f"start ceph-mon id={third}",
        f"sed 's/^fsid = .*/fsid = {OTHER_FSID}/; s/^mon_host = .*/mon_host = {ip}/' /etc/ceph/ceph.conf"
        " > /tmp/other.conf",
    ):
        result = lab.run(third, step)
        assert result[0] == 0, f"{step}: {result}"
    # The new cluster answers on its own: one monitor, no OSDs.
    _, health, _ = ceph(lab, third, "-c /tmp/other.conf -k /tmp/other.keyring health")
    assert health.startswith("HEALTH_ERR") and "no osds" in health
    # The OSD node is pointed at that monitor only: its OSDs are refused and marked down.
    ids = osd_ids(lab, osd_host)
    assert lab.run(osd_host, f"sed -i 's/^mon_host = .*/mon_host = {ip}/' /etc/ceph/ceph.conf")[0] == 0
    wait_until(lambda: all(osds(lab)[i]["status"] == "down" for i in ids))
    _, health, _ = ceph(lab, first, "health")
    assert "2/6 in osds are down" in health
    code, _, err = ceph(lab, osd_host, "health", expect=None)
    assert code == 1 and "authentication error" in err


@pytest.mark.parametrize("command", ["mon_status", "df", "osd dump", "pg stat", "auth list", "fsid", "osd stat"])
def test_other_read_commands_answer(shared_lab: LabHandle, command: str) -> None:
    _, out, _ = ceph(shared_lab, controllers(shared_lab)[0], command)
    assert out.strip()
