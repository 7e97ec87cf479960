"""The data plane through real clients: TCP probes of floating IPs, openstacksdk, SSH (virsh, ip, sed).

A guest answers on its floating IP while its compute, the compute's OVS agent
and the L3 agent holding its router work; live migration moves it (and it
answers afterwards); nova-compute is up in a control plane only with that
plane's rabbit credentials and, for a Juno compute under Kilo conductors, the
RPC pin. A migration beyond free capacity and a compute reinstalled under its
guests are causal rules of the table: tests/lab/test_causal_rules.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openstack import exceptions as sdk_exc

from tests.lab.cloudkit import (
    answering,
    compute_states,
    connect,
    floating_ip,
    guests,
    probe,
    wait_for,
)
from tests.lab.seedkit import ok

COMPUTES = ("node-4", "node-5", "node-6")
CONTROLLERS = ("node-1", "node-2", "node-3")
MOS7_REPO = "deb http://10.20.0.2:8080/2015.1.0-7.0/ubuntu/x86_64 mos7.0 main"

# fuelclient 11 reads its settings with yaml.load() and no Loader.
pytestmark = pytest.mark.filterwarnings("ignore:calling yaml.load")


# --------------------------------------------------------------------------- what runs


def test_every_guest_answers_on_its_floating_ip(shared_lab):
    servers = guests(connect(shared_lab))
    assert len(servers) >= 12
    assert {s.compute_host for s in servers} == set(COMPUTES)
    for server in servers:
        banner = probe(shared_lab, floating_ip(server))
        assert banner is not None and banner.startswith("SSH-2.0-"), server.name
        assert server.id in banner, f"{floating_ip(server)} answered for another guest: {banner}"


def test_virsh_lists_each_computes_guests(shared_lab):
    servers = guests(connect(shared_lab))
    for host in COMPUTES:
        mine = {s.id for s in servers if s.compute_host == host}
        assert set(ok(shared_lab, host, "virsh list --uuid").split()) == mine
        listing = ok(shared_lab, host, "virsh list --all")
        assert listing.splitlines()[0].split() == ["Id", "Name", "State"]
        names = [line.split()[1] for line in listing.splitlines()[2:] if line.strip()]
        assert len(names) == len(mine)
        info = ok(shared_lab, host, f"virsh dominfo {names[0]}")
        assert "State:          running" in info and "Persistent:     yes" in info
        assert ok(shared_lab, host, f"virsh domstate {names[0]}").strip() == "running"
    status, _, err = shared_lab.run("node-1", "virsh list")
    assert status == 127 and "command not found" in err


def test_inspect_prints_the_ledger_summary(shared_lab):
    summary = json.loads(shared_lab.cli("inspect").stdout)
    for key in ("lost_writes", "bytes_moved", "ip_conflicts", "vms_rebooted", "max_vm_outage_s",
                "vm_outage_s"):
        assert key in summary, key
    servers = guests(connect(shared_lab))
    assert {s.id for s in servers} <= set(summary["vm_outage_s"])


def test_the_scenario_holds_tenant_content(shared_lab):
    conn = connect(shared_lab)
    projects = {p.name: p for p in conn.identity.projects()}
    assert {"demo", "web", "analytics"} <= set(projects)
    assert {"alice", "bob", "carol"} <= {u.name for u in conn.identity.users()}
    servers = guests(conn)
    assert len(servers) >= 12 and all(floating_ip(s) for s in servers)
    assert {s.project_id for s in servers} >= {projects[n].id for n in ("demo", "web", "analytics")}
    from_volume = [s for s in servers if not s.image or not s.image.get("id")]
    with_volume = [s for s in servers if s.attached_volumes]
    assert from_volume and len(with_volume) > len(from_volume)
    volumes = list(conn.block_storage.volumes(all_projects=True))
    assert any(v.status == "in-use" for v in volumes) and any(v.status == "available" for v in volumes)
    assert {n.name for n in conn.network.networks()} >= {"demo-net", "web-net", "analytics-net"}
    assert {r.name for r in conn.network.routers()} >= {"demo-router", "web-router", "analytics-router"}
    assert "web" in {g.name for g in conn.network.security_groups()}
    assert conn.compute.get_quota_set(projects["demo"].id).instances == 1000
    stacks = conn.orchestration.get("/stacks", params={"global_tenant": "True"}).json()["stacks"]
    assert [(st["stack_name"], st["stack_status"]) for st in stacks] == [("web-stack", "CREATE_COMPLETE")]

    # The data behind the rows is in Ceph: image bytes match glance's checksum, volumes and
    # image-backed root disks are RBD images.
    for image in conn.image.images():
        if image.name == "TestVM":
            continue
        prefix = next(line.split(":", 1)[1].strip() for line in ok(
            shared_lab, "node-1", f"rbd info images/{image.id}").splitlines() if "block_name_prefix" in line)
        data_md5 = ok(shared_lab, "node-1", f"rados -p images get {prefix}.0000000000000000 - | md5sum")
        assert data_md5.split()[0] == image.checksum, image.name
    rbd_volumes = set(ok(shared_lab, "node-1", "rbd ls volumes").split())
    assert {f"volume-{v.id}" for v in volumes} <= rbd_volumes
    disks = set(ok(shared_lab, "node-1", "rbd ls compute").split())
    assert {f"{s.id}_disk" for s in servers if s not in from_volume} <= disks


# --------------------------------------------------------------------------- reachability


def test_guests_need_their_ovs_agent_and_the_tenant_vlan(lab):
    conn = connect(lab)
    servers = guests(conn)
    on = {host: [s for s in servers if s.compute_host == host] for host in COMPUTES}
    assert answering(lab, servers) == {s.id for s in servers}

    ok(lab, "node-5", "stop neutron-plugin-openvswitch-agent")
    wait_for(lambda: not answering(lab, on["node-5"]), what="node-5's guests to stop answering")
    assert answering(lab, on["node-4"] + on["node-6"]) == {s.id for s in on["node-4"] + on["node-6"]}
    ok(lab, "node-5", "start neutron-plugin-openvswitch-agent")
    wait_for(lambda: answering(lab, on["node-5"]) == {s.id for s in on["node-5"]}, what="node-5 back")

    ok(lab, "node-6", "ip link set eth3 down")  # the private (VLAN) network's NIC
    wait_for(lambda: not answering(lab, on["node-6"]), what="node-6's guests to stop answering")
    ok(lab, "node-6", "ip link set eth3 up")
    wait_for(lambda: answering(lab, on["node-6"]) == {s.id for s in on["node-6"]}, what="node-6 back")

    outages = lab.inspect()["vm_outage_s"]
    assert all(outages[s.id] > 0 for s in on["node-5"] + on["node-6"])
    assert all(outages[s.id] == 0 for s in on["node-4"])


def test_guests_need_the_l3_agent_hosting_their_router_plugged(lab):
    conn = connect(lab)
    servers = guests(conn)
    fips = {f.floating_ip_address: f for f in conn.network.ips()}
    # Which controller's L3 agent holds each guest's router, as neutron says.
    agent_host: dict[str, str] = {}
    for router in conn.network.routers():
        hosts = [a.host for a in conn.network.routers_hosting_l3_agents(router)]
        agent_host[router.id] = hosts[0]
    host_of = {s.id: agent_host[fips[floating_ip(s)].router_id] for s in servers}
    cut = host_of[servers[0].id]
    behind = {sid for sid, host in host_of.items() if host == cut}
    ok(lab, cut, "ip link set eth1 down")  # br-ex loses the public wire
    wait_for(lambda: not (answering(lab, servers) & behind), what=f"guests routed by {cut} to stop")
    assert answering(lab, servers) == {s.id for s in servers} - behind
    ok(lab, cut, "ip link set eth1 up")
    wait_for(lambda: answering(lab, servers) == {s.id for s in servers}, what="every guest back")


# --------------------------------------------------------------------------- live migration


def _server_on(conn, servers: list[Any], host: str, at_least_mb: int = 0) -> Any:
    flavors = {f.id: f for f in conn.compute.flavors()}
    by_name = {f.name: f for f in flavors.values()}
    for server in servers:
        flavor = by_name.get(server.flavor.get("original_name")) or flavors.get(server.flavor.get("id"))
        ram = flavor.ram if flavor is not None else server.flavor.get("ram", 0)
        if server.compute_host == host and ram >= at_least_mb:
            return server
    raise AssertionError(f"no guest of at least {at_least_mb} MB on {host}")


def test_live_migration_moves_the_guest_and_its_address_still_answers(lab):
    conn = connect(lab)
    server = _server_on(conn, guests(conn), "node-4")
    address = floating_ip(server)
    conn.compute.live_migrate_server(server, host="node-6", block_migration=False, force=True)
    moved = wait_for(lambda: (s := conn.compute.get_server(server.id)).compute_host == "node-6"
                     and s.status == "ACTIVE" and s, what="the migration to node-6")
    assert moved.vm_state == "active" and moved.task_state is None
    assert server.id in (probe(lab, address) or "")
    assert server.id in ok(lab, "node-6", "virsh list --uuid").split()
    assert server.id not in ok(lab, "node-4", "virsh list --uuid --all").split()
    summary = lab.inspect()
    assert summary["live_migrations"]["completed"] == 1
    assert 0 < summary["vm_outage_s"][server.id] <= 1.0, "only the final pause is an outage"

    # The scheduler picks a target when none is given, never the source.
    conn.compute.live_migrate_server(moved, host=None, block_migration=False)
    again = wait_for(lambda: (s := conn.compute.get_server(server.id)).compute_host != "node-6"
                     and s.status == "ACTIVE" and s, what="the scheduled migration")
    assert again.compute_host in COMPUTES
    assert server.id in (probe(lab, address) or "")


def test_live_migration_never_goes_to_an_older_release(lab):
    conn = connect(lab)
    pin = "printf '[upgrade_levels]\\ncompute = juno\\n' >> /etc/nova/nova.conf"
    for host in CONTROLLERS:  # a Kilo control plane that accepts pinned Juno computes
        ok(lab, host, f"echo '{MOS7_REPO}' > /etc/apt/sources.list.d/mos7.list && apt-get update "
                      f"&& apt-get install -y nova-conductor && {pin} && restart nova-conductor")
    ok(lab, "node-4", f"{pin} && restart nova-compute")
    ok(lab, "node-5", f"echo '{MOS7_REPO}' > /etc/apt/sources.list.d/mos7.list && apt-get update "
                      "&& apt-get install -y nova-compute && restart nova-compute")
    assert compute_states(conn) == {"node-4": "up", "node-5": "up", "node-6": "down"}
    servers = guests(conn)
    kilo_guest = _server_on(conn, servers, "node-5")
    with pytest.raises(sdk_exc.BadRequestException, match="older"):
        conn.compute.live_migrate_server(kilo_guest, host="node-4", block_migration=False, force=True)
    juno_guest = _server_on(conn, servers, "node-4")
    conn.compute.live_migrate_server(juno_guest, host="node-5", block_migration=False, force=True)
    wait_for(lambda: conn.compute.get_server(juno_guest.id).compute_host == "node-5", what="Juno -> Kilo")


def test_a_stopped_compute_service_refuses_migrations_from_it(lab):
    conn = connect(lab)
    server = _server_on(conn, guests(conn), "node-4")
    ok(lab, "node-4", "stop nova-compute")
    wait_for(lambda: compute_states(conn)["node-4"] == "down", what="node-4 down")
    with pytest.raises(sdk_exc.BadRequestException, match="unavailable"):
        conn.compute.live_migrate_server(server, host="node-5", block_migration=False, force=True)
    assert server.id in (probe(lab, floating_ip(server)) or ""), "the guest itself keeps running"


# --------------------------------------------------------------------------- reinstall


def test_a_guest_started_again_counts_as_rebooted(lab):
    conn = connect(lab)
    server = _server_on(conn, guests(conn), "node-5")
    name = next(line.split()[1] for line in ok(lab, "node-5", "virsh list").splitlines()[2:]
                if line.strip() and server.id in ok(lab, "node-5", f"virsh domuuid {line.split()[1]}"))
    ok(lab, "node-5", f"virsh destroy {name}")
    # The listener closes on the data plane's next pass, a moment after the domain stops.
    wait_for(lambda: probe(lab, floating_ip(server)) is None, what="the guest unreachable")
    assert ok(lab, "node-5", f"virsh domstate {name}").strip() == "shut off"
    wait_for(lambda: conn.compute.get_server(server.id).status == "SHUTOFF", what="SHUTOFF")
    ok(lab, "node-5", f"virsh start {name}")
    wait_for(lambda: server.id in (probe(lab, floating_ip(server)) or ""), what="the guest back")
    assert lab.inspect()["vms_rebooted"] == 1


# --------------------------------------------------------------------------- control plane of a compute


def test_nova_compute_needs_the_planes_rabbit_credentials(lab):
    conn = connect(lab)
    assert compute_states(conn) == dict.fromkeys(COMPUTES, "up")
    ok(lab, "node-4", "sed -i 's/^rabbit_password = .*/rabbit_password = not-the-password/' "
                      "/etc/nova/nova.conf && restart nova-compute")
    assert compute_states(conn) == {"node-4": "down", "node-5": "up", "node-6": "up"}
    ok(lab, "node-5", "sed -i 's/^rabbit_hosts = .*/rabbit_hosts = 127.1.2.3:5673/' /etc/nova/nova.conf")
    assert compute_states(conn)["node-5"] == "down"


def test_a_juno_compute_under_kilo_conductors_needs_the_pin(lab):
    conn = connect(lab)
    for host in CONTROLLERS:  # Kilo's nova-conductor on every controller
        ok(lab, host, f"echo '{MOS7_REPO}' > /etc/apt/sources.list.d/mos7.list && apt-get update "
                      "&& apt-get install -y nova-conductor && restart nova-conductor")
        assert "2015.1" in ok(lab, host, "dpkg-query -W -f '${Version}' nova-conductor")
    assert compute_states(conn) == dict.fromkeys(COMPUTES, "down")
    pin = "printf '[upgrade_levels]\\ncompute = juno\\n' >> /etc/nova/nova.conf"
    ok(lab, "node-4", f"{pin} && restart nova-compute")
    assert compute_states(conn)["node-4"] == "down", "the conductors still send Kilo RPC"
    for host in CONTROLLERS:
        ok(lab, host, f"{pin} && restart nova-conductor")
    assert compute_states(conn) == {"node-4": "up", "node-5": "down", "node-6": "down"}


def test_a_kilo_compute_under_juno_conductors_is_down(lab):
    conn = connect(lab)
    ok(lab, "node-5", f"echo '{MOS7_REPO}' > /etc/apt/sources.list.d/mos7.list && apt-get update "
                      "&& apt-get install -y nova-compute && restart nova-compute")
    assert compute_states(conn) == {"node-4": "up", "node-5": "down", "node-6": "up"}
