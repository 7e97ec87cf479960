"""The nodes' system commands over SSH change and report the node's state truthfully.

Jobs (upstart), packages (dpkg/apt), links and OVS wiring (ip, ovs-vsctl, with
the address map as the witness), processes and sockets, and the pacemaker
cluster as crm_mon, crm, pcs and cibadmin see it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
import testinfra.backend
import yaml
from testinfra.host import Host

pytestmark = pytest.mark.filterwarnings("ignore:Unknown ssh-ed25519 host key")
LSTART = "%a %b %d %H:%M:%S %Y"  # `ps -o lstart`


def run(lab, host: str, command: str) -> tuple[int, str, str]:
    return lab.run(host, command)


def ok(lab, host: str, command: str) -> str:
    status, out, err = lab.run(host, command)
    assert status == 0, f"{command} on {host}: {status}\n{out}{err}"
    return out


@pytest.fixture
def fresh_infra(lab):
    """Uncached testinfra hosts (the lab was restored under testinfra's cached ones), closed after."""
    made: list[Host] = []

    def make(hostname: str) -> Host:
        spec = f"paramiko://root@{lab.node(hostname)['admin_ip']}"
        backend = testinfra.backend.get_backend(spec, ssh_config=str(lab.ssh_config))
        host = Host(backend)
        backend.set_host(host)
        made.append(host)
        return host

    yield make
    for host in made:
        if "client" in vars(host.backend):
            host.backend.client.close()


def ips(lab, hostname: str) -> dict[str, str]:
    """The node's addresses per network, from its deployment facts (read over SFTP)."""
    client = lab.ssh(hostname)
    try:
        with client.open_sftp() as sftp, sftp.open("/etc/astute.yaml") as handle:
            return yaml.safe_load(handle.read())["network_scheme"]["endpoints"]
    finally:
        client.close()


def live(lab, address: str) -> list[str]:
    """Nodes answering `address` on its network's wire, per the lab's address map."""
    return [h["node"] for h in lab.control.get(f"/addresses/{address}")["live"]]


def controllers(lab) -> list[str]:
    return sorted(n["hostname"] for n in lab.nodes_with_role("controller"))


def mon_xml(lab, host: str) -> ET.Element:
    return ET.fromstring(ok(lab, host, "crm_mon -1 -X"))


def running_on(root: ET.Element, resource: str) -> list[str]:
    """Nodes a resource (or clone) runs on, per crm_mon's XML."""
    for el in root.find("resources"):
        if el.get("id") == resource:
            found = el.findall("node") if el.tag == "resource" else el.findall("resource/node")
            return sorted(n.get("name") for n in found)
    raise AssertionError(f"{resource} not in crm_mon output")


# --------------------------------------------------------------------------- upstart


def test_stop_and_start_a_job(lab, fresh_infra):
    host = lab.nodes_with_role("controller")[0]["hostname"]
    mgmt = ips(lab, host)["management"]
    assert ok(lab, host, "stop nova-api") == "nova-api stop/waiting\n"
    assert ok(lab, host, "status nova-api") == "nova-api stop/waiting\n"
    infra = fresh_infra(host)
    assert not infra.service("nova-api").is_running
    assert infra.process.filter(comm="nova-api") == []
    assert not infra.socket(f"tcp://{mgmt}:8774").is_listening
    status, _, err = run(lab, host, "stop nova-api")
    assert status == 1 and err == "stop: Unknown instance: \n"

    out = ok(lab, host, "start nova-api")
    assert out.startswith("nova-api start/running, process ")
    pid = int(out.split()[-1])
    assert ok(lab, host, "status nova-api") == out
    assert infra.process.get(comm="nova-api").pid == pid
    assert infra.socket(f"tcp://{mgmt}:8774").is_listening
    status, _, err = run(lab, host, "start nova-api")
    assert status == 1 and "Job is already running: nova-api" in err
    assert ok(lab, host, "service nova-api status") == out
    assert ok(lab, host, "service nova-api restart").startswith("nova-api start/running")


def test_restart_makes_a_new_process(lab):
    """`restart` (or stop/start) runs a new process: another pid, a later start time in `ps`; a job
    left alone keeps its process. What an operator reads to know a daemon re-read its configuration."""
    def process(job: str) -> tuple[int, str]:
        pid = int(ok(lab, "node-4", f"status {job}").split()[-1])
        return pid, ok(lab, "node-4", f"ps -o lstart= -p {pid}").strip()

    before, other = process("nova-compute"), process("neutron-plugin-openvswitch-agent")
    assert ok(lab, "node-4", "restart nova-compute").startswith("nova-compute start/running, process ")
    after = process("nova-compute")
    assert after[0] != before[0]
    assert datetime.strptime(after[1], LSTART) > datetime.strptime(before[1], LSTART)
    assert process("neutron-plugin-openvswitch-agent") == other
    ok(lab, "node-4", "stop nova-compute && start nova-compute")
    again = process("nova-compute")
    assert again[0] != after[0] and datetime.strptime(again[1], LSTART) > datetime.strptime(after[1], LSTART)


def test_a_job_pacemaker_runs_comes_back_after_stop(lab):
    host = controllers(lab)[0]
    assert ok(lab, host, "stop haproxy") == "haproxy stop/waiting\n"
    assert ok(lab, host, "status haproxy").startswith("haproxy start/running")  # pacemaker's monitor


def test_unknown_jobs_and_instances(lab):
    compute = lab.nodes_with_role("compute")[0]["hostname"]
    assert run(lab, compute, "status nova-api") == (1, "", "status: Unknown job: nova-api\n")
    assert run(lab, compute, "initctl status nova-api")[2] == "initctl: Unknown job: nova-api\n"
    assert run(lab, compute, "service nova-api status")[:2] == (1, "")
    osd = lab.nodes_with_role("ceph-osd")[0]["hostname"]
    listing = ok(lab, osd, "initctl list")
    osd_id = next(line.split("(")[1].split(")")[0] for line in listing.splitlines()
                  if line.startswith("ceph-osd ("))
    assert ok(lab, osd, f"status ceph-osd id={osd_id}").startswith(f"ceph-osd ({osd_id}) start/running")
    ok(lab, osd, f"stop ceph-osd id={osd_id}")
    assert run(lab, osd, f"status ceph-osd id={osd_id}") == (1, "", f"status: Unknown instance: {osd_id}\n")
    assert f"-i {osd_id} " not in ok(lab, osd, "ps -eo args")
    ok(lab, osd, f"start ceph-osd id={osd_id}")
    assert f"--cluster=ceph -i {osd_id} -f" in ok(lab, osd, "ps -eo args")


def test_stopping_corosync_takes_the_node_out_of_the_cluster(lab):
    first, second, _ = controllers(lab)
    ok(lab, first, "stop pacemaker")
    status, _, err = run(lab, first, "crm_mon -1")
    assert status == 107 and "Connection to cluster failed" in err
    nodes = {n.get("name"): n.get("online") for n in mon_xml(lab, second).iter("node") if n.get("type")}
    assert nodes[first] == "false" and nodes[second] == "true"
    ok(lab, first, "start pacemaker")
    nodes = {n.get("name"): n.get("online") for n in mon_xml(lab, second).iter("node") if n.get("type")}
    assert nodes[first] == "true"


# --------------------------------------------------------------------------- packages


def test_dpkg_query_of_an_absent_package(lab):
    compute = lab.nodes_with_role("compute")[0]["hostname"]
    status, out, err = run(lab, compute, "dpkg-query -f '${Status}' -W nova-api")
    assert (status, out) == (1, "") and err == "dpkg-query: no packages found matching nova-api\n"
    status, _, err = run(lab, compute, "dpkg -s nova-api")
    assert status == 1 and "package 'nova-api' is not installed" in err
    assert ok(lab, compute, "dpkg-query -f '${Status}' -W nova-compute") == "install ok installed"
    assert "ii  nova-compute " in ok(lab, compute, "dpkg -l 'nova-*'")


def test_apt_get_installs_from_the_release_catalogue(lab):
    compute = lab.nodes_with_role("compute")[0]["hostname"]
    status, _, err = run(lab, compute, "apt-get install -y no-such-package")
    assert status == 100 and "E: Unable to locate package no-such-package" in err
    out = ok(lab, compute, "apt-get update && apt-get install -y nova-api")
    assert "Setting up nova-api (" in out and "nova-api start/running, process" in out
    version = ok(lab, compute, "dpkg-query -f '${Version}' -W nova-api")
    assert version == ok(lab, compute, "dpkg-query -f '${Version}' -W nova-compute")
    assert ok(lab, compute, "status nova-api").startswith("nova-api start/running")
    assert ok(lab, compute, "command -v nova-manage").strip() == "/usr/bin/nova-manage"
    assert "nova-api is already the newest version." in ok(lab, compute, "apt-get install -y nova-api")


def test_apt_get_upgrades_from_a_newer_release_repository(lab):
    from fuellab import releases

    compute = lab.nodes_with_role("compute")[0]["hostname"]
    kilo = {p.name: p.version for p in releases.spec(releases.KILO).roles["compute"]}
    assert "0 upgraded" in ok(lab, compute, "apt-get install -y nova-compute")
    assert "0 upgraded" in ok(lab, compute, "apt-get upgrade")
    ok(lab, compute, "echo 'deb http://10.20.0.2:8080/2015.1.0-7.0/ubuntu/x86_64 mos7.0 main' "
                     "> /etc/apt/sources.list.d/mos7.list")
    status, out, _ = run(lab, compute, "apt-get upgrade")
    assert status == 1 and out.endswith("Abort.\n")  # no terminal to confirm on
    out = ok(lab, compute, "apt-get install -y nova-compute")
    assert "The following packages will be upgraded:\n  nova-compute\n" in out
    assert ok(lab, compute, "dpkg-query -f '${Version}' -W nova-compute") == kilo["nova-compute"]
    assert "libvirt-bin" in ok(lab, compute, "apt-get -s upgrade")


# --------------------------------------------------------------------------- links and OVS


def test_ip_link_down_takes_the_management_address_off_the_wire(lab):
    compute = lab.nodes_with_role("compute")[0]["hostname"]
    mgmt = ips(lab, compute)["management"]
    assert live(lab, mgmt) == [compute]
    ok(lab, compute, "ip link set eth2 down")
    assert live(lab, mgmt) == []
    assert "state DOWN" in ok(lab, compute, "ip link show eth2")
    assert f"inet {mgmt}/" in ok(lab, compute, "ip -o -4 addr show br-mgmt")  # still configured
    ok(lab, compute, "ip link set eth2 up")
    assert live(lab, mgmt) == [compute]
    assert "state UP" in ok(lab, compute, "ip link show eth2")
    assert run(lab, compute, "ip link show eth9") == (1, "", 'Device "eth9" does not exist.\n')


def test_ovs_patch_removal_isolates_and_gre_joins(lab):
    a, b = (n["hostname"] for n in lab.nodes_with_role("compute")[:2])
    mgmt_a, mgmt_b = ips(lab, a)["management"], ips(lab, b)["management"]
    admin_a, admin_b = lab.node(a)["admin_ip"], lab.node(b)["admin_ip"]
    unplug = "ovs-vsctl del-port br-mgmt br-mgmt--br-eth2 -- --if-exists del-port br-eth2 br-eth2--br-mgmt"
    for node in (a, b):
        ok(lab, node, unplug)
        assert ok(lab, node, "ovs-vsctl list-ports br-mgmt") == ""
    assert live(lab, mgmt_a) == [] and live(lab, mgmt_b) == []

    def segment(address: str) -> str:
        return lab.control.get(f"/addresses/{address}")["holders"][0]["segment"]

    assert segment(mgmt_a) != segment(mgmt_b)
    # A GRE tunnel between the two isolated bridges: one segment of their own, off the wire.
    ok(lab, a, f"ovs-vsctl add-port br-mgmt gre-b -- set Interface gre-b type=gre options:remote_ip={admin_b}")
    ok(lab, b, f"ovs-vsctl add-port br-mgmt gre-a -- set Interface gre-a type=gre options:remote_ip={admin_a}")
    assert segment(mgmt_a) == segment(mgmt_b)
    assert not segment(mgmt_a).startswith("-1:")  # not the datacenter wire
    assert live(lab, mgmt_a) == []
    assert 'options: {remote_ip="' + admin_b + '"}' in ok(lab, a, "ovs-vsctl show")
    replug = ("ovs-vsctl add-port br-mgmt br-mgmt--br-eth2 tag=101 -- set Interface br-mgmt--br-eth2 "
              "type=patch options:peer=br-eth2--br-mgmt -- add-port br-eth2 br-eth2--br-mgmt "
              "-- set Interface br-eth2--br-mgmt type=patch options:peer=br-mgmt--br-eth2")
    ok(lab, a, replug)
    assert live(lab, mgmt_a) == [a]
    assert ok(lab, a, "ovs-vsctl get Interface br-mgmt--br-eth2 options:peer") == '"br-eth2--br-mgmt"\n'
    status, _, err = run(lab, a, replug)
    assert status == 1 and "already exists" in err
    ok(lab, a, "ovs-vsctl --may-exist add-port br-mgmt br-mgmt--br-eth2")
    status, _, err = run(lab, a, "ovs-vsctl del-port br-nope x")
    assert status == 1 and err.startswith("ovs-vsctl: ")


def test_failed_ovs_transaction_changes_nothing(lab):
    compute = lab.nodes_with_role("compute")[0]["hostname"]
    before = ok(lab, compute, "ovs-vsctl show")
    status, _, err = run(lab, compute, "ovs-vsctl del-port br-mgmt br-mgmt--br-eth2 -- del-br br-nope")
    assert status == 1 and err == "ovs-vsctl: no bridge named br-nope\n"
    assert ok(lab, compute, "ovs-vsctl show") == before
    assert run(lab, compute, "ovs-vsctl br-exists br-nope")[0] == 2


# --------------------------------------------------------------------------- processes and sockets


def test_ps_and_ss_follow_the_running_jobs(shared_lab):
    host = shared_lab.nodes_with_role("controller")[0]["hostname"]
    mgmt = ips(shared_lab, host)["management"]
    aux = ok(shared_lab, host, "ps aux")
    assert aux.splitlines()[0].split() == ["USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TT", "STAT",
                                           "START", "TIME", "COMMAND"]
    assert "/usr/bin/python /usr/bin/nova-api --config-file=/etc/nova/nova.conf" in aux
    pid = ok(shared_lab, host, "pgrep -x nova-api").strip()
    assert ok(shared_lab, host, f"ps -o comm= -p {pid}") == "nova-api\n"
    assert run(shared_lab, host, "ps -p 1,999999 -o pid=")[1].split() == ["1"]
    listening = ok(shared_lab, host, "ss -ltnp")
    assert f"{mgmt}:8774 " in listening and 'users:(("nova-api",' in listening
    assert ok(shared_lab, host, "ss -ltn 'sport = :22'").count("LISTEN") == 2


# --------------------------------------------------------------------------- pacemaker


def test_pcs_cluster_kill_moves_the_vips(lab):
    first = controllers(lab)[0]
    root = mon_xml(lab, first)
    holder = running_on(root, "vip__public")[0]
    assert running_on(root, "vip__management") == [holder]
    vips = ET.fromstring(ok(lab, first, "cibadmin -Q --scope resources"))
    public_vip = vips.find(".//primitive[@id='vip__public']//nvpair[@name='ip']").get("value")
    assert live(lab, public_vip) == [holder]
    ok(lab, holder, "pcs cluster kill")
    survivor = next(n for n in controllers(lab) if n != holder)
    root = mon_xml(lab, survivor)
    moved = running_on(root, "vip__public")
    assert moved and moved != [holder]
    assert running_on(root, "vip__management") == moved
    assert root.find(f"nodes/node[@name='{holder}']").get("online") == "false"
    assert root.find("summary/current_dc").get("with_quorum") == "true"
    assert live(lab, public_vip) == moved
    assert holder not in running_on(root, "clone_p_haproxy")
    assert ok(lab, holder, "status haproxy") == "haproxy stop/waiting\n"
    ok(lab, survivor, f"pcs cluster start {holder}")
    assert holder in running_on(mon_xml(lab, survivor), "clone_p_haproxy")


def test_two_of_three_controllers_down_lose_quorum(lab):
    a, b, c = controllers(lab)
    ok(lab, a, "pcs cluster kill")
    ok(lab, c, f"pcs cluster stop {b}")
    root = mon_xml(lab, c)
    assert root.find("summary/current_dc").get("with_quorum") == "false"
    assert all(r.get("active") == "false" for r in root.iter("resource"))
    assert "partition WITHOUT quorum" in ok(lab, c, "crm status")
    assert ok(lab, c, "status haproxy") == "haproxy stop/waiting\n"
    assert run(lab, c, "crm_mon -s")[0] == 1
    ok(lab, c, "pcs cluster start --all")
    root = mon_xml(lab, c)
    assert root.find("summary/current_dc").get("with_quorum") == "true"
    assert running_on(root, "clone_p_haproxy") == [a, b, c]


def test_cibadmin_query_is_a_cib(shared_lab):
    host = controllers(shared_lab)[0]
    cib = ET.fromstring(ok(shared_lab, host, "cibadmin -Q"))
    assert cib.tag == "cib" and cib.get("have-quorum") == "1"
    assert sorted(n.get("uname") for n in cib.findall("configuration/nodes/node")) == controllers(shared_lab)
    assert cib.find("configuration/resources/clone[@id='clone_p_haproxy']/primitive").get("id") == "p_haproxy"
    assert len(cib.findall("status/node_state")) == 3
    compute = shared_lab.nodes_with_role("compute")[0]["hostname"]
    assert run(shared_lab, compute, "cibadmin -Q")[0] == 127  # not installed there


def test_crm_resource_stop_start_restart_move(lab):
    a, b, c = controllers(lab)
    ok(lab, a, "crm resource stop clone_p_haproxy")
    assert running_on(mon_xml(lab, b), "clone_p_haproxy") == []
    assert ok(lab, b, "status haproxy") == "haproxy stop/waiting\n"
    ok(lab, a, "crm resource start p_haproxy")
    assert running_on(mon_xml(lab, b), "clone_p_haproxy") == [a, b, c]
    started = ok(lab, b, "ps -o lstart= -C haproxy")
    assert "INFO: ordering p_haproxy to start" in ok(lab, a, "crm resource restart p_haproxy")
    assert ok(lab, b, "ps -o lstart= -C haproxy") != started
    assert ok(lab, a, "crm resource status p_haproxy").count("is running on") == 3
    ok(lab, a, f"crm resource move vip__public {c}")
    assert running_on(mon_xml(lab, a), "vip__public") == [c]
    assert f"location cli-prefer-vip__public vip__public role=Started inf: {c}" in ok(
        lab, a, "crm configure show")
    ok(lab, a, "crm resource unmove vip__public")
    assert running_on(mon_xml(lab, a), "vip__public") == [a]
    status, _, err = run(lab, a, "crm resource stop p_nope")
    assert status == 1 and "does not exist" in err


def test_maintenance_mode_keeps_resources_where_they_run(lab):
    a, b, c = controllers(lab)
    ok(lab, a, "crm configure property maintenance-mode=true")
    assert "Resource management is DISABLED" in ok(lab, a, "crm_mon -1")
    ok(lab, b, "pcs cluster kill")
    ok(lab, c, "pcs cluster kill")
    root = mon_xml(lab, a)
    assert running_on(root, "vip__public") == [a]  # unmanaged: nothing stops it
    assert root.find("resources/resource[@id='vip__public']").get("managed") == "false"
    ok(lab, a, "crm configure property maintenance-mode=false")
    assert running_on(mon_xml(lab, a), "vip__public") == []  # no quorum: stopped now
    assert "maintenance-mode" not in ok(lab, a, "crm configure show")


def test_standby_moves_resources_off_a_node(lab):
    a, b, _ = controllers(lab)
    ok(lab, b, f"crm node standby {a}")
    root = mon_xml(lab, b)
    assert root.find(f"nodes/node[@name='{a}']").get("standby") == "true"
    assert a not in running_on(root, "clone_p_haproxy")
    assert running_on(root, "vip__public") == [b]
    ok(lab, b, f"crm node online {a}")
    assert a in running_on(mon_xml(lab, b), "clone_p_haproxy")
