"""runbook.lib.fuel against the lab's Fuel master, through python-fuelclient 11.0.0."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook.config import parse_target
from runbook.errors import FuelError, RemoteTimeout
from runbook.lib.fuel import FuelClient
from tests.labkit import LabHandle

SEED_RELEASE = "2015.1.0-7.0"


def client(lab: LabHandle, **kwargs) -> FuelClient:
    kwargs.setdefault("poll_interval", 0.02)
    return FuelClient.from_target(parse_target(lab.dir / "target.yaml"), **kwargs)


def password(lab: LabHandle) -> str:
    return parse_target(lab.dir / "target.yaml").fuel.password


def free_node_ids(fuel: FuelClient) -> list[int]:
    return [n["id"] for n in fuel.nodes() if n["cluster"] is None]


def test_reads_envs_nodes_releases(shared_lab: LabHandle) -> None:
    fuel = client(shared_lab)
    assert fuel.master_version()["release"] == "7.0"
    envs = fuel.envs()
    assert [(e["id"], e["status"]) for e in envs] == [(1, "operational")]
    assert fuel.env(1)["name"] == envs[0]["name"]
    nodes = fuel.nodes()
    assert [n["id"] for n in nodes] == sorted(n["id"] for n in nodes)
    in_env = fuel.nodes(1)
    assert in_env and all(n["cluster"] == 1 for n in in_env)
    assert len(free_node_ids(fuel)) == len(nodes) - len(in_env)
    node = in_env[0]
    assert fuel.node(node["id"])["hostname"] == node["hostname"]
    assert fuel.node_by_hostname(node["hostname"])["id"] == node["id"]
    with pytest.raises(FuelError, match="no node named 'node-999'"):
        fuel.node_by_hostname("node-999")
    assert fuel.release_by_version(SEED_RELEASE)["version"] == SEED_RELEASE
    assert {r["version"] for r in fuel.releases()} >= {"2014.2.2-6.1", SEED_RELEASE}
    with pytest.raises(FuelError, match="no release 9.9"):
        fuel.release_by_version("9.9")
    assert "editable" in fuel.env_attributes(1)
    assert {n["name"] for n in fuel.network_configuration(1)["networks"]} >= {"management", "public"}
    disks = fuel.disks(node["id"])
    assert any(v["name"] == "os" for d in disks for v in d["volumes"])
    assert fuel.interfaces(node["id"])[0]["name"]
    assert fuel.deployment_info_defaults(1, [node["id"]])


def test_http_error_is_fuel_error_with_message_and_fix(shared_lab: LabHandle) -> None:
    fuel = client(shared_lab)
    with pytest.raises(FuelError) as caught:
        fuel.env(999)
    assert "999" in caught.value.message and "HTTP 404" in caught.value.message
    assert "fuel2 env list" in caught.value.fix
    with pytest.raises(FuelError, match="HTTP 400") as caught:
        fuel.upgrade_clone(1, "seed", release_id=fuel.release_by_version(SEED_RELEASE)["id"])
    # The master's own message: how to enable what the clone needs.
    assert "fuel2 env extension enable 1 -E cluster_upgrade" in caught.value.message
    assert "correct what the message names" in caught.value.fix


def test_extensions_listed_enabled_and_disabled(lab: LabHandle) -> None:
    fuel = client(lab)
    installed = fuel.installed_extensions()
    assert [e["name"] for e in installed] == ["cluster_upgrade", "volume_manager"]
    assert all(e["version"] and isinstance(e["provides"], list) for e in installed)
    assert fuel.env_extensions(1) == ["volume_manager"]
    assert fuel.enable_extensions(1, iter(["cluster_upgrade"])) == ["cluster_upgrade", "volume_manager"]
    assert fuel.env_extensions(1) == ["cluster_upgrade", "volume_manager"]
    with pytest.raises(FuelError, match="HTTP 400") as caught:
        fuel.upgrade_clone(1, "seed", release_id=fuel.release_by_version("2014.2.2-6.1")["id"])
    assert "Upgrade to the given release" in caught.value.message  # Nailgun's own message
    seed = fuel.upgrade_clone(1, "seed", fuel.release_by_version(SEED_RELEASE)["id"])
    assert fuel.env_extensions(seed["id"]) == ["cluster_upgrade", "volume_manager"]
    assert fuel.disable_extensions(1, ["cluster_upgrade"]) is None
    assert fuel.env_extensions(1) == ["volume_manager"]
    with pytest.raises(FuelError, match=r"No such extensions to disable: cluster_upgrade .*HTTP 400"):
        fuel.disable_extensions(1, ["cluster_upgrade"])
    with pytest.raises(FuelError, match=r"No such extensions: nosuch .*HTTP 400") as caught:
        fuel.enable_extensions(1, ["nosuch"])
    assert "PUT clusters/1/extensions/" in caught.value.message


def test_hanging_extensions_call_raises_remote_timeout(lab: LabHandle) -> None:
    fuel = client(lab, timeout=(2.0, 0.5))
    lab.cli("fault", "add", "--node", "master", "--op", "DELETE /api/v1/clusters/1/extensions", "--kind", "hang")
    with pytest.raises(RemoteTimeout, match="did not answer DELETE clusters/1/extensions/.* within 0.5 s"):
        fuel.disable_extensions(1, ["volume_manager"])
    assert fuel.env_extensions(1) == ["volume_manager"]


def test_clone_assign_reprovision_and_wait(lab: LabHandle) -> None:
    fuel = client(lab)
    fuel.enable_extensions(1, ["cluster_upgrade"])
    seed = fuel.upgrade_clone(1, "seed", fuel.release_by_version(SEED_RELEASE)["id"])
    assert seed["release_id"] == fuel.release_by_version(SEED_RELEASE)["id"]
    controller = fuel.nodes(1)[0]
    task = fuel.upgrade_assign(seed["id"], [controller["id"]], reprovision=True, roles=["controller"])
    assert task["name"] == "provision" and task["cluster"] == seed["id"]
    done = fuel.wait_task(task["id"], timeout=30, nodes=[controller["id"]])
    assert done["status"] == "ready"
    node = fuel.wait_nodes([controller["id"]], "provisioned", timeout=10)[0]
    assert node["cluster"] == seed["id"] and node["pending_roles"] == ["controller"]
    assert [t["id"] for t in fuel.tasks(seed["id"])] == [task["id"]]
    vips = fuel.upgrade_vips(seed["id"])
    assert {v["vip_name"] for v in vips} >= {"management", "public"}


def test_keep_data_marks_named_volumes(lab: LabHandle) -> None:
    fuel = client(lab)
    node_id = free_node_ids(fuel)[0]
    disks = fuel.keep_data(node_id, ["image"])
    kept = {v["name"]: v["keep_data"] for d in disks for v in d["volumes"]}
    assert kept["image"] is True and kept["os"] is False
    with pytest.raises(FuelError, match="has no volume nosuch"):
        fuel.keep_data(node_id, ["nosuch"])


def test_wait_ends_with_task_error(lab: LabHandle) -> None:
    fuel = client(lab)
    lab.cli("fault", "add", "--node", "master", "--op", "provision", "--kind", "task-error",
            "--message", "astute: provisioning image broken")
    fuel.enable_extensions(1, ["cluster_upgrade"])
    seed = fuel.upgrade_clone(1, "seed", fuel.release_by_version(SEED_RELEASE)["id"])
    node_id = fuel.nodes(1)[0]["id"]
    task = fuel.upgrade_assign(seed["id"], [node_id], reprovision=True)
    with pytest.raises(FuelError, match="ended in error: astute: provisioning image broken"):
        fuel.wait_task(task["id"], timeout=30)
    with pytest.raises(FuelError, match=r"in error: .*error_type provision"):
        fuel.wait_nodes([node_id], "provisioned", timeout=10)


def test_wait_ends_when_a_node_stays_offline(lab: LabHandle) -> None:
    fuel = client(lab)
    fuel.enable_extensions(1, ["cluster_upgrade"])
    seed = fuel.upgrade_clone(1, "seed", fuel.release_by_version(SEED_RELEASE)["id"])
    node = fuel.nodes(1)[0]
    fuel.upgrade_assign(seed["id"], [node["id"]], reprovision=True)
    # The provisioning reboot keeps the node offline longer than this grace period.
    with pytest.raises(FuelError, match=f"{node['hostname']} .* offline for more than 0.05 s"):
        fuel.wait_nodes([node["id"]], "provisioned", timeout=30, offline_grace=0.05)


def test_hanging_master_raises_remote_timeout(lab: LabHandle) -> None:
    fuel = client(lab, timeout=(2.0, 0.5))
    lab.cli("fault", "add", "--node", "master", "--op", "GET /api/v1/nodes*", "--kind", "hang")
    start = time.monotonic()
    with pytest.raises(RemoteTimeout, match="did not answer GET nodes/ within 0.5 s"):
        fuel.nodes()
    with pytest.raises(RemoteTimeout, match=r"waited 1\.5 s for node\(s\) 1 .*last poll failed"):
        fuel.wait_nodes([1], "ready", timeout=1.5, poll=0.1)
    assert time.monotonic() - start < 10
    assert fuel.envs()  # the rest of the API still answers through the same session


@pytest.mark.parametrize("op", ["GET /api/v1/version", "POST /keystone/v2.0/tokens"])
def test_hanging_master_while_connecting_raises_remote_timeout(lab: LabHandle, op: str) -> None:
    """The version probe and keystone requests fuelclient makes outside its session time out too."""
    lab.cli("fault", "add", "--node", "master", "--op", op, "--kind", "hang", "--times", "1")
    start = time.monotonic()
    with pytest.raises(RemoteTimeout, match="did not answer"):
        client(lab, timeout=(2.0, 0.5))
    assert time.monotonic() - start < 10


def test_wait_times_out_naming_what_and_how_long(lab: LabHandle) -> None:
    fuel = client(lab)
    free = free_node_ids(fuel)[0]
    with pytest.raises(RemoteTimeout, match=rf"waited 0\.3 s for node\(s\) {free} to become ready; still node-"):
        fuel.wait_nodes([free], "ready", timeout=0.3)


def test_password_never_in_errors_or_logs(shared_lab: LabHandle, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = password(shared_lab)
    target = parse_target(shared_lab.dir / "target.yaml")
    fuel = client(shared_lab)
    fuel.envs()
    errors = []
    for action in (lambda: fuel.env(999),
                   lambda: FuelClient(target.fuel.address, target.fuel.port, target.fuel.username,
                                      target.fuel.tenant, secret + "-wrong")):
        with pytest.raises(FuelError) as caught:
            action()
        errors.append(caught.value)
    assert "refused the credentials of user 'admin'" in str(errors[1])
    assert secret not in caplog.text
    assert all(secret not in str(e) and secret not in repr(e.args) for e in errors)
    assert "POST /keystone/v2.0/tokens" in caplog.text  # the requests were logged, only not the secret


# A fresh interpreter: HOME is a temp dir, no fuelclient settings in the environment, and
# yaml.load refuses a call without a Loader, as PyYAML 6 does.
SCRIPT = """
import os, sys, yaml
_load = yaml.load
def load(stream, Loader=None):
    if Loader is None:
        raise TypeError("load() missing 1 required positional argument: 'Loader'")
    return _load(stream, Loader)
yaml.load = load
from runbook.config import parse_target
from runbook.lib.fuel import FuelClient
fuel = FuelClient.from_target(parse_target(sys.argv[1]))
print([e["id"] for e in fuel.envs()], os.environ.get("FUELCLIENT_CUSTOM_SETTINGS"))
import fuelclient.client
print(fuelclient.client.DefaultAPIClient.root)
"""


def test_no_settings_written_and_pyyaml6_compat(shared_lab: LabHandle, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_CONFIG_HOME", "FUELCLIENT_CUSTOM_SETTINGS")}
    env.update(HOME=str(home), TMPDIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(shared_lab.dir / "target.yaml")],
                          capture_output=True, text=True, timeout=60, env=env,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[1] None"  # the temporary settings variable is gone again
    address = shared_lab.target["fuel"]["address"]
    assert lines[1] == f"http://{address}:{shared_lab.target['fuel']['port']}"
    assert list(home.iterdir()) == []  # nothing in ~/.config (or anywhere in HOME)
    assert not list(tmp_path.glob("octane-fuelclient-*"))  # the settings file was removed
