"""python-fuelclient 11.0.0, unmodified, configured only by the lab's fuel_client.yaml.

`session_lab` sets FUELCLIENT_CUSTOM_SETTINGS before any test runs; fuelclient
builds its DefaultAPIClient when `fuelclient.client` is first imported and its
objects always use it, so fuelclient is imported inside the fixtures only.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from tests.lab.fuelhttp import sftp_read, sftp_write

KILO = "2015.1.0-7.0"
DEADLINE = 30.0

# fuelclient 11 reads its settings with yaml.load() and no Loader.
pytestmark = pytest.mark.filterwarnings("ignore:calling yaml.load")


@pytest.fixture
def fc(session_lab) -> SimpleNamespace:
    import fuelclient
    from fuelclient import client, objects

    return SimpleNamespace(
        envs=fuelclient.get_client("environment"),
        nodes=fuelclient.get_client("node"),
        releases=fuelclient.get_client("release"),
        tasks=fuelclient.get_client("task"),
        extensions=fuelclient.get_client("extension"),
        api=client.DefaultAPIClient,
        objects=objects,
    )


def _wait(fc: SimpleNamespace, task_id: int) -> str:
    task = fc.objects.Task(task_id)
    deadline = time.monotonic() + DEADLINE
    while not task.is_finished:
        assert time.monotonic() < deadline, f"task {task_id} still {task.status}"
        time.sleep(0.05)
    return task.status


def test_lists_envs_nodes_and_releases(shared_lab, fc):
    envs = fc.envs.get_all()
    assert [(e["id"], e["name"], e["status"]) for e in envs][0] == (1, "prod", "operational")
    nodes = fc.nodes.get_all()
    assert len(nodes) == len(shared_lab.nodes())
    assert {n["status"] for n in fc.nodes.get_all(environment_id=1)} == {"ready"}
    versions = {r["version"] for r in fc.releases.get_all()}
    assert versions == {"2014.2.2-6.1", KILO}
    assert fc.envs.get_by_id(1)["fuel_version"] == "6.1"
    assert fc.objects.Node(1).data["roles"] == ["controller"]


def test_env_lifecycle_through_the_facades(lab, fc):
    kilo = next(r for r in fc.releases.get_all() if r["version"] == KILO)
    env = fc.envs.create("made-by-fuelclient", kilo["id"], "vlan")
    assert env["status"] == "new" and env["release_id"] == kilo["id"]
    assert fc.envs.update(env["id"], name="renamed")["name"] == "renamed"
    fc.envs.add_nodes(env["id"], [11, 12], ["compute"])
    assert {n["id"]: n["pending_roles"] for n in fc.nodes.get_all(environment_id=env["id"])} == \
        {11: ["compute"], 12: ["compute"]}
    fc.envs.remove_nodes(env["id"], [12])
    assert [n["id"] for n in fc.nodes.get_all(environment_id=env["id"])] == [11]
    settings = fc.envs.get_settings(env["id"])
    settings["editable"]["common"]["debug"]["value"] = True
    fc.envs.set_settings(env["id"], settings)
    assert fc.envs.get_settings(env["id"])["editable"]["common"]["debug"]["value"] is True
    network = fc.envs.get_network_configuration(env["id"])
    fc.envs.set_network_configuration(env["id"], network)
    fc.envs.delete_by_id(env["id"])
    deletion = next(t for t in fc.tasks.get_all() if t["name"] == "cluster_deletion")
    assert _wait(fc, deletion["id"]) == "ready"
    assert env["id"] not in {e["id"] for e in fc.envs.get_all()}
    assert fc.objects.Node(11).get_fresh_data()["cluster"] is None


def _osd_dirs(lab, hostname: str) -> dict[str, int]:
    """The node's OSD volumes as it mounts them: disk -> OSD id, found over SFTP."""
    found = {}
    for osd_id in range(12):
        whoami = sftp_read(lab, hostname, f"/var/lib/ceph/osd/ceph-{osd_id}/whoami")
        if whoami is not None:
            found[osd_id] = int(whoami)
    return found


def test_reassigned_osd_node_keeps_only_the_volumes_marked_keep_data(lab, fc):
    osds = _osd_dirs(lab, "node-7")
    assert len(osds) == 2, osds
    kept_id, wiped_id = sorted(osds)
    for osd_id in (kept_id, wiped_id):
        sftp_write(lab, "node-7", f"/var/lib/ceph/osd/ceph-{osd_id}/marker", f"osd {osd_id}\n".encode())

    # Mark the first Ceph volume keep_data through the node's disks, as the upgrade does.
    node = fc.objects.Node(7)
    disks = node.get_attribute("disks")
    ceph_disks = [d for d in disks if any(v["name"] == "ceph" for v in d["volumes"])]
    for volume in ceph_disks[0]["volumes"]:
        volume["keep_data"] = True
    node.upload_node_attribute("disks", disks)

    kilo = next(r for r in fc.releases.get_all() if r["version"] == KILO)
    fc.extensions.enable_extensions(1, ["cluster_upgrade"])
    seed = fc.api.post_request("clusters/1/upgrade/clone", {"name": "seed", "release_id": kilo["id"]})
    assert fc.envs.get_by_id(seed["id"])["release_id"] == kilo["id"]
    task = fc.api.post_request(f"clusters/{seed['id']}/upgrade/assign",
                               {"nodes_ids": [7], "reprovision": True})
    assert _wait(fc, task["id"]) == "ready"
    data = fc.objects.Node(7).get_fresh_data()
    assert (data["status"], data["cluster"], data["pending_roles"]) == ("provisioned", seed["id"], ["ceph-osd"])
    assert sftp_read(lab, "node-7", "/etc/fuel_release").decode().strip() == KILO

    # Mounts come back with deployment: the kept OSD keeps its id and its files.
    result = fc.envs.deploy_nodes(seed["id"], [7])
    assert _wait(fc, result["id"]) == "ready"
    assert fc.objects.Node(7).get_fresh_data()["status"] == "ready"
    after = _osd_dirs(lab, "node-7")
    assert after[kept_id] == kept_id
    assert sftp_read(lab, "node-7", f"/var/lib/ceph/osd/ceph-{kept_id}/marker") == f"osd {kept_id}\n".encode()
    assert wiped_id not in after, "the wiped volume came back as a new OSD"
    (new_id,) = set(after) - {kept_id}
    assert sftp_read(lab, "node-7", f"/var/lib/ceph/osd/ceph-{new_id}/marker") is None
    assert sftp_read(lab, "node-7", f"/var/lib/ceph/osd/ceph-{wiped_id}/marker") is None
