"""Nailgun's extensions through unmodified python-fuelclient 11.0.0, and the cluster_upgrade calls they gate.

fuelclient is imported inside the fixture only (see test_fuelclient.py): the
session sets FUELCLIENT_CUSTOM_SETTINGS before its DefaultAPIClient is built.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests

from tests.lab.fuelhttp import FuelHTTP

KILO = "2015.1.0-7.0"
FIX = "fuel2 env extension enable {id} -E cluster_upgrade"

pytestmark = pytest.mark.filterwarnings("ignore:calling yaml.load")


@pytest.fixture
def fc(session_lab) -> SimpleNamespace:
    import fuelclient
    from fuelclient import objects
    from fuelclient.cli import error

    return SimpleNamespace(ext=fuelclient.get_client("extension"), objects=objects, HTTPError=error.HTTPError)


def _refused(api: FuelHTTP, method: str, path: str, body=None, status: int = 400) -> str:
    resp = api.raw(method, path, body)
    assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text}"
    return resp.json()["message"]


def test_installed_and_enabled_by_default(shared_lab, fc):
    installed = {e["name"]: e for e in fc.ext.get_all()}  # what `fuel2 extension list` shows
    assert set(installed) == {"cluster_upgrade", "volume_manager"}
    for ext in installed.values():
        assert set(ext) == {"name", "version", "description", "provides"}
        assert isinstance(ext["provides"], list) and ext["version"] and ext["description"]
    assert fc.objects.Extension(1).get_env_extensions() == ["volume_manager"]
    assert fc.ext.get_by_id(1) == {"extensions": "volume_manager"}  # `fuel2 env extension show 1`
    api = FuelHTTP(shared_lab)
    assert api.get("clusters/1/extensions") == ["volume_manager"]  # without the trailing slash too
    assert api.get("extensions") == sorted(installed.values(), key=lambda e: e["name"])


def test_enable_and_disable(lab, fc):
    assert fc.ext.enable_extensions(1, ["cluster_upgrade"]) == ["cluster_upgrade", "volume_manager"]
    assert fc.ext.enable_extensions(1, ["cluster_upgrade"]) == ["cluster_upgrade", "volume_manager"]
    assert fc.objects.Extension(1).get_env_extensions() == ["cluster_upgrade", "volume_manager"]
    assert fc.ext.disable_extensions(1, ["cluster_upgrade"]) == {}  # a 204, as fuelclient decodes it
    assert fc.objects.Extension(1).get_env_extensions() == ["volume_manager"]
    api = FuelHTTP(lab)
    kilo = next(r["id"] for r in api.get("releases") if r["version"] == KILO)
    fresh = api.call("POST", "clusters", {"name": "fresh", "release_id": kilo}, expect=201)
    assert api.get(f"clusters/{fresh['id']}/extensions/") == ["volume_manager"]
    resp = api.raw("DELETE", f"clusters/{fresh['id']}/extensions?extension_names=volume_manager")
    assert resp.status_code == 204 and resp.content == b""
    assert api.get(f"clusters/{fresh['id']}/extensions/") == []
    assert api.get("clusters/1/extensions/") == ["volume_manager"]  # per env


def test_unknown_names_and_bad_requests_are_refused(shared_lab, fc):
    with pytest.raises(fc.HTTPError, match="400.*No such extensions: bareon, nosuch"):
        fc.ext.enable_extensions(1, ["nosuch", "cluster_upgrade", "bareon"])
    with pytest.raises(fc.HTTPError, match="400.*No such extensions: nosuch"):
        fc.ext.disable_extensions(1, ["nosuch"])
    with pytest.raises(fc.HTTPError, match="400.*No such extensions to disable: cluster_upgrade"):
        fc.ext.disable_extensions(1, ["cluster_upgrade", "volume_manager"])
    api = FuelHTTP(shared_lab)
    assert "JSON list" in _refused(api, "PUT", "clusters/1/extensions/", {"name": "x"})
    assert "list of extension names" in _refused(api, "PUT", "clusters/1/extensions/", [1])
    assert "extension_names" in _refused(api, "DELETE", "clusters/1/extensions/")
    assert "99" in _refused(api, "GET", "clusters/99/extensions/", status=404)
    assert "99" in _refused(api, "PUT", "clusters/99/extensions/", ["cluster_upgrade"], status=404)
    anonymous = requests.put(f"{api.root}/api/v1/clusters/1/extensions/", json=["cluster_upgrade"], timeout=5)
    assert anonymous.status_code == 401
    assert api.get("clusters/1/extensions/") == ["volume_manager"]  # nothing refused took effect


def test_clone_assign_and_vips_need_cluster_upgrade(lab, fc):
    api = FuelHTTP(lab)
    kilo = next(r["id"] for r in api.get("releases") if r["version"] == KILO)
    clone = {"name": "seed", "release_id": kilo}
    message = _refused(api, "POST", "clusters/1/upgrade/clone", clone)
    assert "cluster_upgrade extension is not enabled for the original cluster (1)" in message
    assert FIX.format(id=1) in message and "octane prepare" in message
    assert [c["id"] for c in api.get("clusters")] == [1]  # no seed was made

    fc.ext.enable_extensions(1, ["cluster_upgrade"])
    seed = api.call("POST", "clusters/1/upgrade/clone", clone)
    sid = seed["id"]
    assert fc.objects.Extension(sid).get_env_extensions() == ["cluster_upgrade", "volume_manager"]

    fc.ext.disable_extensions(sid, ["cluster_upgrade"])
    for what, body in (("assign", {"nodes_ids": [4], "reprovision": False}), ("vips", None)):
        message = _refused(api, "POST", f"clusters/{sid}/upgrade/{what}", body)
        assert f"not enabled for the seed cluster ({sid})" in message and FIX.format(id=sid) in message
    assert api.node(4)["cluster"] == 1
    assert api.get(f"clusters/{sid}/network_configuration/neutron")["management_vip"] is None

    fc.ext.enable_extensions(sid, ["cluster_upgrade"])
    vips = api.call("POST", f"clusters/{sid}/upgrade/vips")
    assert {v["vip_name"] for v in vips} >= {"management", "public"}
    moved = api.call("POST", f"clusters/{sid}/upgrade/assign", {"nodes_ids": [4], "reprovision": False})
    assert moved[0]["cluster"] == sid
    # Disabling it on the original once the seed exists (octane's cleanup-fuel) leaves the seed's alone.
    fc.ext.disable_extensions(1, ["cluster_upgrade"])
    assert fc.objects.Extension(sid).get_env_extensions() == ["cluster_upgrade", "volume_manager"]


def test_api_5xx_fault_on_the_extensions_route(lab, fc):
    # Named as an operator writes it, without the slash fuelclient sends.
    lab.cli("fault", "add", "--node", "master", "--op", "PUT /api/v1/clusters/1/extensions",
            "--kind", "api-5xx", "--times", "1", "--message", "nailgun lost its extensions")
    assert fc.objects.Extension(1).get_env_extensions() == ["volume_manager"]  # GET is not the op
    with pytest.raises(fc.HTTPError, match="500.*nailgun lost its extensions"):
        fc.ext.enable_extensions(1, ["cluster_upgrade"])
    assert fc.objects.Extension(1).get_env_extensions() == ["volume_manager"]
    assert fc.ext.enable_extensions(1, ["cluster_upgrade"]) == ["cluster_upgrade", "volume_manager"]
    assert lab.status()["faults"] == []  # consumed once


def test_enabled_extensions_survive_snapshot_restore_and_restart(lab):
    api = FuelHTTP(lab)
    api.enable_extensions(1, "cluster_upgrade")
    lab.snapshot("extensions-enabled")
    api.call("DELETE", "clusters/1/extensions/?extension_names=cluster_upgrade,volume_manager", expect=204)
    assert api.get("clusters/1/extensions/") == []
    lab.restore("extensions-enabled")
    assert api.get("clusters/1/extensions/") == ["cluster_upgrade", "volume_manager"]
    lab.stop()
    lab.up()
    assert api.get("clusters/1/extensions/") == ["cluster_upgrade", "volume_manager"]
    lab.restore("pristine")
    assert api.get("clusters/1/extensions/") == ["volume_manager"]
