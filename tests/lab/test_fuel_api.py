"""The Fuel master API over plain HTTP: auth, shapes, tasks, isolation, validations, faults."""

from __future__ import annotations

import time

import pytest
import requests

from tests.lab.fuelhttp import FuelHTTP, sftp_read
from tests.lab.seedkit import seed_with_controller, without_wire_patches

KILO = "2015.1.0-7.0"
JUNO = "2014.2.2-6.1"


@pytest.fixture
def api(lab) -> FuelHTTP:
    return FuelHTTP(lab)


@pytest.fixture
def shared_api(shared_lab) -> FuelHTTP:
    return FuelHTTP(shared_lab)


# --------------------------------------------------------------------------- auth and shapes


def test_version_is_public_and_says_auth_is_required(shared_api):
    resp = requests.get(f"{shared_api.root}/api/v1/version", timeout=5)
    assert resp.status_code == 200
    body = resp.json()
    assert body["release"] == "7.0" and body["openstack_version"] == KILO
    assert body["auth_required"] is True


def test_token_dance_and_refusals(shared_api):
    root = shared_api.root
    wrong = requests.post(f"{root}/keystone/v2.0/tokens", timeout=5, json={
        "auth": {"tenantName": "admin", "passwordCredentials": {"username": "admin", "password": "nope"}}})
    assert wrong.status_code == 401 and wrong.json()["message"]
    first = shared_api.token()
    again = requests.post(f"{root}/keystone/v2.0/tokens", timeout=5,
                          json={"auth": {"tenantName": "admin", "token": {"id": first}}})
    assert again.status_code == 200
    second = again.json()["access"]["token"]["id"]
    forged = requests.post(f"{root}/keystone/v2.0/tokens", timeout=5,
                           json={"auth": {"token": {"id": "forged"}}})
    assert forged.status_code == 401
    anonymous = requests.get(f"{root}/api/v1/clusters/", timeout=5)
    assert anonymous.status_code == 401 and set(anonymous.json()) >= {"message", "errors"}
    for token in (first, second):
        resp = requests.get(f"{root}/api/v1/clusters", headers={"X-Auth-Token": token}, timeout=5)
        assert resp.status_code == 200 and resp.json()[0]["name"] == "prod"
    missing = shared_api.raw("GET", "no/such/thing/")
    assert missing.status_code == 404 and set(missing.json()) >= {"message", "errors"}
    assert shared_api.raw("GET", "clusters/99/").status_code == 404


def test_objects_have_the_shapes_fuelclient_reads(shared_api):
    cluster = shared_api.get("clusters/1/")
    assert {"id", "name", "mode", "status", "net_provider", "release_id", "fuel_version", "changes",
            "is_locked"} <= set(cluster)
    assert cluster["status"] == "operational" and cluster["mode"] == "ha_compact"
    node = shared_api.get("nodes/1")
    assert {"id", "name", "hostname", "fqdn", "ip", "mac", "cluster", "roles", "pending_roles", "status",
            "progress", "online", "error_type", "pending_addition", "pending_deletion", "meta",
            "network_data", "group_id", "labels"} <= set(node)
    assert {"disks", "interfaces", "memory", "cpu", "system"} <= set(node["meta"])
    assert node["meta"]["system"]["fqdn"] == node["fqdn"]
    nets = {n["name"]: n for n in node["network_data"]}
    assert {"fuelweb_admin", "management", "public", "storage"} <= set(nets)
    assert nets["fuelweb_admin"]["ip"].startswith(node["ip"] + "/")
    assert nets["management"]["vlan"] and nets["management"]["dev"]
    releases = {r["version"]: r for r in shared_api.get("releases/")}
    assert releases[JUNO]["is_deployable"] is False and releases[KILO]["is_deployable"] is True
    assert "controller" in releases[KILO]["roles_metadata"]
    assert shared_api.get(f"releases/{releases[KILO]['id']}")["version"] == KILO
    assert [n["id"] for n in shared_api.get("nodes/?cluster_id=1")] == list(range(1, 10))


def test_generated_secrets_are_never_served(shared_lab, shared_api):
    import yaml

    password = yaml.safe_load((shared_lab.dir / "clouds.yaml").read_text())["clouds"]["env-1"]["auth"]["password"]
    for path in ("clusters/1/attributes", "clusters/1/attributes/defaults",
                 "clusters/1/network_configuration/neutron", "clusters/1/orchestrator/deployment/defaults/?nodes=1"):
        text = shared_api.raw("GET", path).text
        assert password not in text, path
    assert "generated" not in shared_api.get("clusters/1/attributes")


def test_tokens_survive_restore_and_restart(lab):
    api = FuelHTTP(lab)
    lab.restore("pristine")
    assert api.raw("GET", "clusters/").status_code == 200
    lab.stop()
    lab.up()
    assert api.raw("GET", "clusters/").status_code == 200


# --------------------------------------------------------------------------- envs, nodes, tasks


def test_new_env_is_provisioned_and_deployed_through_the_api(lab, api):
    kilo = next(r for r in api.get("releases/") if r["version"] == KILO)
    env = api.call("POST", "clusters/", {"name": "fresh", "release_id": kilo["id"], "mode": "ha_compact",
                                         "net_provider": "neutron", "net_segment_type": "vlan"}, expect=201)
    assert api.raw("POST", "clusters/", {"name": "fresh", "release_id": kilo["id"]}).status_code == 409
    bad = api.raw("POST", f"clusters/{env['id']}/assignment/", [{"id": 10, "roles": ["dancer"]}])
    assert bad.status_code == 400 and "dancer" in bad.json()["message"]
    api.call("POST", f"clusters/{env['id']}/assignment/", [{"id": 10, "roles": ["controller"]}])
    node = api.node(10)
    assert node["cluster"] == env["id"] and node["pending_roles"] == ["controller"] and node["pending_addition"]
    task = api.call("PUT", f"clusters/{env['id']}/changes?dry_run=0&noop_run=0", {}, expect=202)
    assert task["name"] == "deploy" and task["status"] == "running"
    seen = set()
    progress = []
    while (current := api.get(f"transactions/{task['id']}"))["status"] == "running":
        progress.append(current["progress"])
        node = api.node(10)
        seen.add((node["status"], node["online"]))
        time.sleep(0.02)
    assert current["status"] == "ready", current
    assert ("provisioning", False) in seen and ("deploying", True) in seen
    assert progress == sorted(progress) and progress[-1] > progress[0]
    node = api.node(10)
    assert node["status"] == "ready" and node["roles"] == ["controller"] and node["online"]
    assert api.get(f"clusters/{env['id']}")["status"] == "operational"
    assert sftp_read(lab, "node-10", "/etc/fuel_release").decode().strip() == KILO
    status, out, _ = lab.run("node-10", "dpkg-query -f '${Status} ${Version}' -W nova-api")
    assert status == 0 and out.startswith("install ok installed 1:2015.1")
    assert api.raw("PUT", f"clusters/{env['id']}/changes", {}).status_code == 400  # nothing left to do


def test_env_deletion_returns_nodes_to_bootstrap(lab, api):
    kilo = next(r for r in api.get("releases/") if r["version"] == KILO)
    env = api.call("POST", "clusters", {"name": "short-lived", "release_id": kilo["id"]}, expect=201)
    api.call("POST", f"clusters/{env['id']}/assignment", [{"id": 11, "roles": ["compute"]}])
    provision = api.call("PUT", f"clusters/{env['id']}/provision/?nodes=11", {}, expect=202)
    assert [t["id"] for t in api.get(f"transactions/?cluster_id={env['id']}")] == [provision["id"]]
    task = api.wait_task(provision["id"])
    assert task["status"] == "ready" and api.node(11)["status"] == "provisioned"
    deletion = api.call("DELETE", f"clusters/{env['id']}/", expect=202)
    assert deletion["name"] == "cluster_deletion"
    assert api.wait_task(deletion["id"])["status"] == "ready"
    assert api.raw("GET", f"clusters/{env['id']}/").status_code == 404
    node = api.node(11)
    assert node["cluster"] is None and node["status"] == "discover" and node["roles"] == []
    assert sftp_read(lab, "node-11", "/etc/fuel_release") is None  # bootstrap image again
    assert api.call("DELETE", f"transactions/{deletion['id']}/", expect=204) is None


def test_disks_keep_data_and_interfaces(lab, api):
    disks = {d["name"]: d for d in api.get("nodes/7/disks/")}
    assert {"sda", "sdb", "sdc"} <= set(disks)
    assert all(v["keep_data"] is False for d in disks.values() for v in d["volumes"])
    disks["sdb"]["volumes"][0]["keep_data"] = True
    api.call("PUT", "nodes/7/disks", list(disks.values()))
    after = {d["name"]: d for d in api.get("nodes/7/disks")}
    assert after["sdb"]["volumes"] == [{"name": "ceph", "size": disks["sdb"]["volumes"][0]["size"], "keep_data": True}]
    assert after["sdc"]["volumes"][0]["keep_data"] is False
    os_disk = after["sda"]
    os_disk["volumes"][0]["keep_data"] = True
    refused = api.raw("PUT", "nodes/7/disks", [os_disk])
    assert refused.status_code == 400 and "OS volume" in refused.json()["message"]
    too_big = api.raw("PUT", "nodes/7/disks", [{"name": "sdb", "volumes": [{"name": "ceph", "size": 10**9}]}])
    assert too_big.status_code == 400
    ifaces = {i["name"]: i for i in api.get("nodes/1/interfaces")}
    assert [n["name"] for n in ifaces["eth0"]["assigned_networks"]] == ["fuelweb_admin"]
    assert api.get("nodes/7/disks/defaults")[1]["volumes"][0]["keep_data"] is False


# --------------------------------------------------------------------------- cluster_upgrade


def test_clone_copies_settings_and_validates(lab, api):
    orig_attrs = api.get("clusters/1/attributes")["editable"]
    seed = api.clone("seed")
    assert seed["release_id"] != 1 and seed["status"] == "new" and seed["fuel_version"] == "7.0"
    attrs = api.get(f"clusters/{seed['id']}/attributes")["editable"]
    assert attrs["storage"]["volumes_ceph"]["value"] == orig_attrs["storage"]["volumes_ceph"]["value"]
    assert attrs["release"]["version"]["value"] == KILO
    assert api.get(f"clusters/{seed['id']}/network_configuration/neutron")["networks"] == \
        api.get("clusters/1/network_configuration/neutron")["networks"]
    kilo_id = seed["release_id"]

    def refused(body, orig=1):
        resp = api.raw("POST", f"clusters/{orig}/upgrade/clone", body)
        assert resp.status_code == 400, resp.text
        return resp.json()["message"]

    assert "already involved in the upgrade" in refused({"name": "again", "release_id": kilo_id})
    assert "name" in refused({"release_id": kilo_id})
    fresh = api.call("POST", "clusters", {"name": "fresh", "release_id": kilo_id}, expect=201)
    api.enable_extensions(fresh["id"], "cluster_upgrade")
    assert "operational" in refused({"name": "x", "release_id": kilo_id}, orig=fresh["id"])
    # The relation is gone with the seed: the original can be cloned again, and is validated.
    api.wait_task(api.call("DELETE", f"clusters/{seed['id']}", expect=202)["id"])
    assert "already exists" in refused({"name": "prod", "release_id": kilo_id})
    assert "was not found" in refused({"name": "x", "release_id": 99})
    juno_id = next(r["id"] for r in api.get("releases") if r["version"] == JUNO)
    assert "cannot be installed" in refused({"name": "x", "release_id": juno_id})


def test_assign_and_vips_validate(lab, api):
    seed = api.clone()
    sid = seed["id"]

    def refused(body, cluster=sid, what="assign"):
        resp = api.raw("POST", f"clusters/{cluster}/upgrade/{what}", body)
        assert resp.status_code == 400, resp.text
        return resp.json()["message"]

    assert "not the seed" in refused({"nodes_ids": [4]}, cluster=1)
    assert "not the seed" in refused(None, cluster=1, what="vips")
    assert "nodes_ids" in refused({"nodes_ids": []})
    assert "was not found" in refused({"nodes_ids": [999]})
    assert "does not belong to the original" in refused({"nodes_ids": [10]})
    assert "not valid" in refused({"nodes_ids": [4], "roles": ["dancer"]})
    moved = api.call("POST", f"clusters/{sid}/upgrade/assign", {"nodes_ids": [4], "reprovision": False})
    assert moved[0]["cluster"] == sid and moved[0]["pending_roles"] == ["compute"]
    assert moved[0]["ip"] == api.node(4)["ip"]
    assert "already assigned" in refused({"nodes_ids": [4]})
    vips = api.call("POST", f"clusters/{sid}/upgrade/vips")
    net = api.get(f"clusters/{sid}/network_configuration/neutron")
    orig = api.get("clusters/1/network_configuration/neutron")
    assert {v["ip_addr"] for v in vips} == {orig["management_vip"], orig["public_vip"]}
    assert net["management_vip"] == orig["management_vip"]


def test_assign_reprovisions_the_node_with_the_seed_release(lab, api):
    before = api.node(5)
    seed = api.clone()
    session = lab.ssh("node-5")
    task = api.call("POST", f"clusters/{seed['id']}/upgrade/assign",
                    {"nodes_ids": [5], "reprovision": True, "roles": ["compute"]}, expect=202)
    assert task["name"] == "provision" and task["cluster"] == seed["id"]
    deadline = time.monotonic() + 5
    while session.get_transport().is_active() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not session.get_transport().is_active(), "the reboot did not cut the open SSH session"
    session.close()
    assert api.wait_task(task["id"])["status"] == "ready"
    node = api.node(5)
    assert node["status"] == "provisioned" and node["cluster"] == seed["id"]
    assert node["pending_roles"] == ["compute"] and node["roles"] == []
    assert node["network_data"] == before["network_data"]  # the node keeps its addresses
    assert sftp_read(lab, "node-5", "/etc/fuel_release").decode().strip() == KILO
    status, _, _ = lab.run("node-5", "dpkg-query -W nova-compute")
    assert status != 0  # a fresh OS: deployment has not installed the role yet


def test_seed_controller_deployed_isolated_duplicates_nothing(lab, api):
    _, sid = seed_with_controller(lab)
    facts = api.get(f"clusters/{sid}/orchestrator/deployment/defaults/?nodes=10")
    assert facts and {f["uid"] for f in facts} == {"10"}
    api.call("PUT", f"clusters/{sid}/orchestrator/deployment", without_wire_patches(facts))
    assert api.get(f"clusters/{sid}/orchestrator/deployment") == facts
    assert api.get(f"clusters/{sid}")["is_customized"] is True
    task = api.call("PUT", f"clusters/{sid}/changes", {}, expect=202)
    assert api.wait_task(task["id"])["status"] == "ready"
    assert api.node(10)["status"] == "ready"
    assert lab.status()["ip_conflicts"] == []
    assert lab.inspect()["ip_conflicts"] == []
    # The seed controller holds the original's VIP on its own, unplugged, segment.
    assert api.get(f"clusters/{sid}/network_configuration/neutron")["management_vip"] == \
        api.get("clusters/1/network_configuration/neutron")["management_vip"]


def test_seed_controllers_isolated_on_a_gre_overlay(lab, api):
    seed = api.clone()
    sid = seed["id"]
    api.call("POST", f"clusters/{sid}/upgrade/vips")
    api.call("POST", f"clusters/{sid}/assignment/", [{"id": 10, "roles": ["controller"]},
                                                     {"id": 11, "roles": ["controller"]}])
    admin = {n: api.node(n)["ip"] for n in (10, 11)}
    facts = api.get(f"clusters/{sid}/orchestrator/deployment/defaults/?nodes=10,11")
    for entry in facts:
        me = int(entry["uid"])
        peer = 11 if me == 10 else 10
        steps = [s for s in entry["network_scheme"]["transformations"]
                 if not (s["action"] == "add-patch" and {"br-mgmt", "br-ex"} & set(s["bridges"]))]
        for key, bridge in enumerate(("br-mgmt", "br-ex"), start=1):
            steps.append({"action": "add-port", "bridge": bridge, "name": f"gre{key}-{peer}", "type": "gre",
                          "options": {"remote_ip": admin[peer], "key": key}})
        entry["network_scheme"]["transformations"] = steps
    api.call("PUT", f"clusters/{sid}/orchestrator/deployment", facts)
    task = api.call("PUT", f"clusters/{sid}/changes", {}, expect=202)
    assert api.wait_task(task["id"])["status"] == "ready"
    assert {api.node(n)["status"] for n in (10, 11)} == {"ready"}
    assert lab.status()["ip_conflicts"] == []
    assert api.get(f"clusters/{sid}")["status"] == "operational"
    # The overlay joins the two management segments: their pacemaker cluster has quorum.
    status, out, _ = lab.run("node-10", "crm_mon -s")
    assert status == 0 and "2 nodes online" in out, out


def test_unassigned_node_leaves_when_changes_are_deployed(lab, api):
    api.call("POST", "clusters/1/unassignment/", [{"id": 6}])
    assert api.node(6)["pending_deletion"] is True and api.node(6)["cluster"] == 1
    task = api.call("PUT", "clusters/1/changes", {}, expect=202)
    assert api.wait_task(task["id"])["status"] == "ready"
    node = api.node(6)
    assert node["cluster"] is None and node["status"] == "discover" and not node["pending_deletion"]
    assert [n["id"] for n in api.get("nodes/?cluster_id=1")] == [1, 2, 3, 4, 5, 7, 8, 9]
    assert api.get("clusters/1")["status"] == "operational"


def test_node_updates(lab, api):
    node = api.call("PUT", "nodes/10/", {"labels": {"rack": "r1"}})
    assert node["labels"] == {"rack": "r1"}
    bulk = api.call("PUT", "nodes/", [{"id": 11, "labels": {"rack": "r2"}}, {"id": 12, "labels": {}}])
    assert [n["labels"] for n in bulk] == [{"rack": "r2"}, {}]
    assert api.raw("PUT", "nodes/10", {"pending_roles": ["compute"]}).status_code == 400  # no env
    assert api.raw("PUT", "nodes/10", {"hostname": "renamed"}).status_code == 400
    assert api.raw("PUT", "nodes/10", {"status": "ready"}).status_code == 400
    api.call("PUT", "nodes/10", {"cluster": 1, "pending_roles": ["compute"]})
    assert (api.node(10)["cluster"], api.node(10)["pending_roles"]) == (1, ["compute"])
    assert api.raw("DELETE", "nodes/4/").status_code == 400  # in an env


def test_interrupted_task_is_marked_after_restore(lab, api):
    seed = api.clone()
    task = api.call("POST", f"clusters/{seed['id']}/upgrade/assign", {"nodes_ids": [6]}, expect=202)
    lab.control.post("/snapshot", {"name": "mid-task"})
    assert api.wait_task(task["id"])["status"] == "ready"
    lab.restore("mid-task")
    after = api.get(f"transactions/{task['id']}")
    assert after["status"] == "error" and "interrupted by lab restart" in after["message"]
    node = api.node(6)
    assert node["status"] == "error" and node["error_type"] == "provision" and node["online"]


# --------------------------------------------------------------------------- faults


def test_api_5xx_fault_and_clear(lab, api):
    lab.cli("fault", "add", "--node", "master", "--op", "GET /api/v1/clusters*", "--kind", "api-5xx",
            "--message", "nailgun is sad")
    resp = api.raw("GET", "clusters/")
    assert resp.status_code == 500 and resp.json()["message"] == "nailgun is sad"
    assert api.raw("GET", "nodes/").status_code == 200
    lab.cli("fault", "clear")
    assert api.raw("GET", "clusters/").status_code == 200


def test_hang_fault_and_clear(lab, api):
    lab.cli("fault", "add", "--node", "master", "--op", "GET /api/v1/releases*", "--kind", "hang")
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.raw("GET", "releases/", timeout=0.5)
    lab.cli("fault", "clear")
    assert api.raw("GET", "releases/", timeout=5).status_code == 200


def test_task_error_fault_leaves_the_node_as_it_was(lab, api):
    lab.cli("fault", "add", "--node", "master", "--op", "provision", "--kind", "task-error",
            "--times", "1", "--message", "astute timed out")
    seed = api.clone()
    task = api.call("POST", f"clusters/{seed['id']}/upgrade/assign", {"nodes_ids": [6]}, expect=202)
    done = api.wait_task(task["id"])
    assert done["status"] == "error" and done["message"] == "astute timed out"
    node = api.node(6)
    assert node["status"] == "error" and node["error_type"] == "provision"
    assert sftp_read(lab, "node-6", "/etc/fuel_release").decode().strip() == JUNO
    assert lab.status()["faults"] == []  # --times 1: consumed
    retry = api.call("PUT", f"clusters/{seed['id']}/provision/?nodes=6", {}, expect=202)
    assert api.wait_task(retry["id"])["status"] == "ready"
    assert api.node(6)["status"] == "provisioned"


def test_provision_fail_fault_fails_that_node_only(lab, api):
    lab.cli("fault", "add", "--node", "node-9", "--op", "provision", "--kind", "provision-fail")
    seed = api.clone()
    task = api.call("POST", f"clusters/{seed['id']}/upgrade/assign", {"nodes_ids": [8, 9]}, expect=202)
    done = api.wait_task(task["id"])
    assert done["status"] == "error" and "node-9" in done["message"]
    assert api.node(9)["status"] == "error" and api.node(9)["error_type"] == "provision"
    assert api.node(8)["status"] == "provisioned"
    lab.cli("fault", "clear")
    retry = api.call("PUT", f"clusters/{seed['id']}/provision/?nodes=9", {}, expect=202)
    assert api.wait_task(retry["id"])["status"] == "ready"
    assert api.node(9)["status"] == "provisioned"
