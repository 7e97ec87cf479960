"""The env's OpenStack APIs through openstacksdk and the `openstack` client, unmodified.

What they show is what the env's databases hold; they answer only through a
live holder of the VIP whose HAProxy runs, in the mode its loaded
configuration says (normal, read-only, down); a service whose database schema
is not its release's answers 500; a restored and synced dump on the seed
serves the same rows at the same address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as sdk_exc

from tests.lab.cloudkit import connect, db_rows, keystone_versions, public_vip, wait_for
from tests.lab.fuelhttp import sftp_read
from tests.lab.seedkit import dump, isolated_seed, ok, plug, restore, unplug_originals

# openstacksdk's own deprecation notices about its internals are not the lab's concern.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

TIMEOUT = 10
API_FILES = ("8774-nova-api-2", "8776-cinder-api", "9696-neutron", "9292-glance-api", "8004-heat-api")
KEYSTONE_FILES = ("5000-keystone-1", "35357-keystone-2")
CONTROLLERS = ("node-1", "node-2", "node-3")


# --------------------------------------------------------------------------- helpers


def cloud_entry(lab, cloud: str = "env-1") -> dict:
    return yaml.safe_load((lab.dir / "clouds.yaml").read_text())["clouds"][cloud]


def osc(lab, *args: str) -> list[dict]:
    """The `openstack` command line, as an operator runs it, JSON output."""
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(lab.dir / "clouds.yaml"), "OS_CLOUD": "env-1"}
    proc = subprocess.run([str(Path(sys.executable).with_name("openstack")), *args, "-f", "json"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, f"openstack {' '.join(args)}: {proc.stderr}"
    return json.loads(proc.stdout)


def append(lab, hosts: tuple[str, ...], path: str, line: str) -> None:
    for host in hosts:
        ok(lab, host, f"echo '{line}' >> {path}")


def restart_haproxy(lab) -> None:
    ok(lab, "node-1", "crm resource restart p_haproxy")


def maintenance_backend(lab) -> None:
    append(lab, CONTROLLERS, "/etc/haproxy/haproxy.cfg", "backend maintenance")


# --------------------------------------------------------------------------- what the APIs show


def test_sdk_lists_what_the_databases_hold(shared_lab):
    conn = connect(shared_lab)
    servers = list(conn.compute.servers(details=True, all_projects=True))
    live = db_rows(shared_lab, "nova", "SELECT uuid, host, vm_state FROM instances WHERE deleted = 0")
    assert {s.id for s in servers} == {r[0] for r in live} and len(servers) >= 12
    by_id = {s.id: s for s in servers}
    for uuid, host, vm_state in live:
        assert by_id[uuid].compute_host == host and by_id[uuid].vm_state == vm_state
    assert all(s.status == "ACTIVE" and s.addresses for s in servers)

    services = list(conn.compute.services())
    assert {(s.host, s.binary) for s in services} == set(db_rows(
        shared_lab, "nova", 'SELECT host, "binary" FROM services WHERE deleted = 0'))
    assert all(s.state == "up" for s in services)
    hypervisors = list(conn.compute.hypervisors(details=True))
    assert sorted(h.name for h in hypervisors) == ["node-4.domain.tld", "node-5.domain.tld", "node-6.domain.tld"]
    assert sum(h.running_vms for h in hypervisors) == len(live)

    volumes = list(conn.block_storage.volumes(details=True, all_projects=True))
    assert {v.id for v in volumes} == {r[0] for r in db_rows(shared_lab, "cinder",
                                                             "SELECT id FROM volumes WHERE deleted = 0")}
    assert {s.binary for s in conn.block_storage.services()} == {"cinder-scheduler", "cinder-volume"}

    agents = list(conn.network.agents())
    assert len(agents) == len(db_rows(shared_lab, "neutron", "SELECT id FROM agents"))
    assert any(a.is_alive for a in agents if a.agent_type == "L3 agent")
    for kind, table in (("networks", "networks"), ("routers", "routers"), ("ips", "floatingips")):
        listed = {x.id for x in getattr(conn.network, kind)()}
        assert listed == {r[0] for r in db_rows(shared_lab, "neutron", f"SELECT id FROM {table}")}, kind
    images = {i.name for i in conn.image.images()}
    assert "TestVM" in images
    own = list(conn.orchestration.stacks())
    assert all(s.project_id in (None, conn.current_project_id) for s in own)
    every = conn.orchestration.get("/stacks?global_tenant=True").json()["stacks"]
    expected = db_rows(shared_lab, "heat", "SELECT id, name, action || '_' || status FROM stack "
                                           "WHERE deleted_at IS NULL AND owner_id IS NULL")
    assert expected and {(s["id"], s["stack_name"], s["stack_status"]) for s in every} == set(expected)


def test_openstack_cli_lists_env_resources(shared_lab):
    servers = osc(shared_lab, "server", "list", "--all-projects")
    assert len(servers) == len(db_rows(shared_lab, "nova", "SELECT id FROM instances WHERE deleted = 0"))
    assert {s["Binary"] for s in osc(shared_lab, "compute", "service", "list")} >= {
        "nova-compute", "nova-conductor", "nova-scheduler"}
    assert {a["Agent Type"] for a in osc(shared_lab, "network", "agent", "list")} >= {
        "L3 agent", "DHCP agent", "Open vSwitch agent"}
    assert {n["Name"] for n in osc(shared_lab, "network", "list")} >= {"net04", "net04_ext"}
    assert any(i["Name"] == "TestVM" for i in osc(shared_lab, "image", "list"))
    assert osc(shared_lab, "volume", "list", "--all-projects")


def test_keystone_tokens_catalog_and_refusals(shared_lab):
    entry = cloud_entry(shared_lab)
    auth = entry["auth"]
    vip = public_vip(shared_lab)
    root = requests.get(f"http://{vip}:5000/", timeout=TIMEOUT)
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["links"][0]["href"] == f"http://{vip}:5000/v3/"
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": auth["user_domain_name"]}, "password": auth["password"]}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
    resp = requests.post(f"http://{vip}:5000/v3/auth/tokens", json=body, timeout=TIMEOUT)
    assert resp.status_code == 201
    token = resp.headers["X-Subject-Token"]
    data = resp.json()["token"]
    expires = dt.datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00"))
    assert expires - dt.datetime.now(dt.UTC) > dt.timedelta(hours=2)
    assert {r["name"] for r in data["roles"]} >= {"admin"} and data["project"]["name"] == "admin"
    types = {s["type"]: s for s in data["catalog"]}
    assert {"identity", "compute", "network", "image", "volumev2", "orchestration"} <= set(types)
    public = next(e["url"] for e in types["compute"]["endpoints"] if e["interface"] == "public")
    assert public == f"http://{vip}:8774/v2/{data['project']['id']}"
    check = requests.get(f"http://{vip}:5000/v3/auth/tokens", timeout=TIMEOUT,
                         headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert check.status_code == 200 and check.json()["token"]["user"]["name"] == auth["username"]
    body["auth"]["identity"]["password"]["user"]["password"] = "wrong"
    assert requests.post(f"http://{vip}:5000/v3/auth/tokens", json=body, timeout=TIMEOUT).status_code == 401
    assert requests.get(f"http://{vip}:8774/v2.1/servers", timeout=TIMEOUT).status_code == 401
    v2 = requests.post(f"http://{vip}:5000/v2.0/tokens", timeout=TIMEOUT, json={"auth": {
        "tenantName": "admin", "passwordCredentials": {"username": auth["username"],
                                                       "password": auth["password"]}}})
    assert v2.status_code == 200 and v2.json()["access"]["serviceCatalog"]
    # Microversions on v2.1, as nova-api of the lab's maximum 2.25 announces them.
    served = requests.get(f"http://{vip}:8774/v2.1/servers/detail?all_tenants=1", timeout=TIMEOUT,
                          headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.25"})
    assert served.headers["OpenStack-API-Version"] == "compute 2.25"
    assert all("host_status" in s for s in served.json()["servers"])


def test_management_vip_and_controller_addresses_answer_too(shared_lab):
    mgmt_vip = next(c for c in shared_lab.status()["clusters"] if c["id"] == 1)["vips"]["management"]
    node2 = yaml.safe_load(sftp_read(shared_lab, "node-2", "/etc/astute.yaml"))["network_scheme"]["endpoints"]
    for address in (mgmt_vip, node2["management"]):
        doc = requests.get(f"http://{address}:9696/", timeout=TIMEOUT).json()
        assert doc["versions"][0]["links"][0]["href"] == f"http://{address}:9696/v2.0/"


def test_writes_go_to_the_databases(lab):
    conn = connect(lab)
    net = conn.network.find_network("net04")
    server = conn.compute.create_server(name="api-vm", flavor_id="1", networks=[{"uuid": net.id}],
                                        image_id=conn.image.find_image("TestVM").id)
    active = wait_for(lambda: (s := conn.compute.get_server(server.id)).status == "ACTIVE" and s,
                      "the server becoming ACTIVE")
    assert active.compute_host and active.addresses["net04"]
    assert db_rows(lab, "nova", f"SELECT host FROM instances WHERE uuid = '{server.id}'") == [
        (active.compute_host,)]
    conn.compute.delete_server(server)
    assert not db_rows(lab, "nova", f"SELECT id FROM instances WHERE uuid = '{server.id}' AND deleted = 0")

    volume = conn.block_storage.create_volume(size=1, name="api-volume")
    wait_for(lambda: conn.block_storage.get_volume(volume.id).status == "available", "the volume")
    conn.block_storage.delete_volume(volume)
    wait_for(lambda: not db_rows(lab, "cinder", f"SELECT id FROM volumes WHERE id = '{volume.id}' AND deleted = 0"),
             "the volume's deletion")

    data = os.urandom(3000)
    image = conn.image.create_image(name="api-image", data=data, disk_format="raw", container_format="bare")
    assert conn.image.get_image(image.id).checksum == hashlib.md5(data).hexdigest()  # noqa: S324
    assert b"".join(conn.image.download_image(image, stream=True).iter_content(1024)) == data
    conn.image.delete_image(image)

    ext = conn.network.find_network("net04_ext")
    fip = conn.network.create_ip(floating_network_id=ext.id)
    assert db_rows(lab, "neutron", f"SELECT floating_ip_address FROM floatingips WHERE id = '{fip.id}'") == [
        (fip.floating_ip_address,)]
    conn.network.delete_ip(fip)
    assert not db_rows(lab, "neutron", f"SELECT id FROM floatingips WHERE id = '{fip.id}'")


# --------------------------------------------------------------------------- HAProxy modes


def test_read_only_mode_takes_effect_on_restart(lab):
    conn = connect(lab)
    maintenance_backend(lab)
    for name in API_FILES:
        append(lab, CONTROLLERS, f"/etc/haproxy/conf.d/{name}.cfg", "  use_backend maintenance if !METH_GET")
    # Edited but not restarted: the running HAProxy still has its old configuration.
    net = conn.network.create_network(name="before-restart")
    conn.network.delete_network(net)
    restart_haproxy(lab)
    assert {n.name for n in conn.network.networks()} >= {"net04"}
    assert list(conn.compute.servers(all_projects=True))
    with pytest.raises(sdk_exc.HttpException) as refused:
        conn.network.create_network(name="during-maintenance")
    assert refused.value.status_code == 503
    with pytest.raises(sdk_exc.HttpException) as refused:
        conn.block_storage.create_volume(size=1, name="during-maintenance")
    assert refused.value.status_code == 503
    # Keystone stayed writable: a new client still logs in, and reads.
    assert list(connect(lab).compute.flavors())
    assert not db_rows(lab, "neutron", "SELECT id FROM networks WHERE name = 'during-maintenance'")


def test_down_mode_answers_503_everywhere(lab):
    maintenance_backend(lab)
    for name in API_FILES + KEYSTONE_FILES:
        append(lab, CONTROLLERS, f"/etc/haproxy/conf.d/{name}.cfg", "  use_backend maintenance if TRUE")
    restart_haproxy(lab)
    vip = public_vip(lab)
    for port in (5000, 8774, 8776, 9696, 9292, 8004):
        resp = requests.get(f"http://{vip}:{port}/", timeout=TIMEOUT)
        assert resp.status_code == 503 and "No server is available" in resp.text, port
    with pytest.raises((sdk_exc.HttpException, ks_exc.HttpError, ks_exc.DiscoveryFailure)):
        list(connect(lab).compute.servers())


def test_a_config_haproxy_refuses_keeps_it_down(lab):
    vip = public_vip(lab)
    # `use_backend maintenance` without a `backend maintenance`: HAProxy does not start.
    append(lab, CONTROLLERS, "/etc/haproxy/conf.d/9696-neutron.cfg", "  use_backend maintenance if TRUE")
    assert requests.get(f"http://{vip}:9696/", timeout=TIMEOUT).status_code == 200  # not restarted yet
    restart_haproxy(lab)
    for port in (9696, 5000):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{vip}:{port}/", timeout=TIMEOUT)


def test_api_jobs_and_vip_holders_decide_who_answers(lab):
    vip = public_vip(lab)
    # nova-api stopped on the first controller: HAProxy's check sends requests to the others.
    ok(lab, "node-1", "stop nova-api")
    assert all(requests.get(f"http://{vip}:8774/", timeout=TIMEOUT).status_code == 200 for _ in range(4))
    for host in ("node-2", "node-3"):
        ok(lab, host, "stop nova-api")
    resp = requests.get(f"http://{vip}:8774/", timeout=TIMEOUT)
    assert resp.status_code == 503 and "No server is available to handle this request." in resp.text
    # No VIP: nobody answers the address.
    ok(lab, "node-1", "crm resource stop vip__public")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{vip}:5000/", timeout=TIMEOUT)
    with pytest.raises(ks_exc.ConnectFailure):
        list(connect(lab).network.networks())


def test_a_schema_not_of_the_release_answers_500(lab):
    conn = connect(lab)
    assert list(conn.compute.flavors())
    ok(lab, "node-1", "mysql -e 'UPDATE nova.migrate_version SET version = 280'")
    with pytest.raises(sdk_exc.HttpException) as failed:
        list(connect(lab).compute.servers())
    assert failed.value.status_code == 500
    assert list(connect(lab).network.networks())  # the other services are unaffected


def test_an_injected_api_fault_answers_500(lab):
    conn = connect(lab)
    assert list(conn.network.networks())
    lab.control.post("/faults", {"node": "*", "op": "GET /v2.0/networks", "kind": "api-5xx", "times": 1,
                                 "message": "injected by the test"})
    with pytest.raises(sdk_exc.HttpException, match="injected by the test") as failed:
        list(conn.network.networks())
    assert failed.value.status_code == 500
    assert list(conn.network.networks())  # consumed: the next call is served


# --------------------------------------------------------------------------- the seed env


def test_the_seed_serves_the_restored_rows_after_sync(lab):
    vip = public_vip(lab)
    before = {s.id: s.compute_host for s in connect(lab).compute.servers(all_projects=True)}
    sid = isolated_seed(lab)
    assert keystone_versions(vip) == {"v3.0"}  # isolated: only the original (Juno) answers

    # The seed's br-ex on the wire too: two holders of the public VIP, the answers flap.
    ok(lab, "node-10", plug("br-ex", "eth1"))
    assert keystone_versions(vip) == {"v3.0", "v3.4"}

    dump(lab)
    restore(lab)
    # Switch-over: the originals off the management and public wires, the seed on them.
    unplug_originals(lab)
    ok(lab, "node-10", plug("br-mgmt", "eth2"))

    # A Juno database under Kilo code: keystone cannot start, the seed's answers are 500s.
    failed = requests.get(f"http://{vip}:5000/v3", timeout=TIMEOUT)
    assert failed.status_code == 500 and "schema version is 55" in failed.json()["error"]["message"]
    with pytest.raises(sdk_exc.SDKException, match="HTTP 500"):
        connect(lab).authorize()
    ok(lab, "node-10", "keystone-manage db_sync")
    assert keystone_versions(vip, 4) == {"v3.4"}
    conn = connect(lab)
    assert conn.authorize()
    with pytest.raises(sdk_exc.HttpException) as failed:
        list(conn.compute.servers(all_projects=True))
    assert failed.value.status_code == 500
    ok(lab, "node-10", "nova-manage db sync")
    after = {s.id: s.compute_host for s in connect(lab).compute.servers(all_projects=True)}
    assert after == before
    assert db_rows(lab, "nova", "SELECT version FROM migrate_version", env=sid) == [(280,)]
    # clouds.yaml names the seed too: same VIP, the same admin (its attributes were cloned).
    assert cloud_entry(lab, f"env-{sid}")["auth"]["auth_url"] == f"http://{vip}:5000/v3"
    assert {s.id for s in connect(lab, f"env-{sid}").compute.servers(all_projects=True)} == set(before)
