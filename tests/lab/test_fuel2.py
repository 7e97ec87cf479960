"""The `fuel2` command line of python-fuelclient 11.0.0 against the lab, configured by its files only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FUEL2 = Path(sys.executable).with_name("fuel2")


def fuel2(lab, *args: str) -> list | dict:
    return json.loads(fuel2_text(lab, *args, "-f", "json"))


def fuel2_text(lab, *args: str) -> str:
    env = {**os.environ, "FUELCLIENT_CUSTOM_SETTINGS": str(lab.dir / "fuel_client.yaml"),
           "XDG_CONFIG_HOME": str(lab.dir / "xdg"), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([str(FUEL2), *args], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, f"fuel2 {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def with_task(lab):
    """A finished task in the lab: an env created and deleted through the API."""
    from tests.lab.fuelhttp import FuelHTTP

    api = FuelHTTP(lab)
    kilo = next(r for r in api.get("releases") if r["version"] == "2015.1.0-7.0")
    env = api.call("POST", "clusters", {"name": "brief", "release_id": kilo["id"]}, expect=201)
    task = api.call("DELETE", f"clusters/{env['id']}", expect=202)
    assert api.wait_task(task["id"])["status"] == "ready"
    return lab, task


def test_fuel2_lists(with_task):
    lab, task = with_task
    envs = fuel2(lab, "env", "list")
    assert [(e["id"], e["name"], e["status"]) for e in envs] == [(1, "prod", "operational")]
    nodes = fuel2(lab, "node", "list")
    assert len(nodes) == len(lab.nodes()) and {n["status"] for n in nodes} == {"ready", "discover"}
    assert {n["id"] for n in fuel2(lab, "node", "list", "--env", "1")} == set(range(1, 10))
    releases = fuel2(lab, "release", "list")
    assert {r["version"] for r in releases} == {"2014.2.2-6.1", "2015.1.0-7.0"}
    tasks = fuel2(lab, "task", "list")
    assert [(t["id"], t["name"], t["status"]) for t in tasks] == [(task["id"], "cluster_deletion", "ready")]
    assert fuel2(lab, "env", "show", "1")["fuel_version"] == "6.1"


def test_fuel2_env_extensions(lab):
    """The commands the master's refusal of a clone names, as an operator types them."""
    assert {e["name"] for e in fuel2(lab, "extension", "list")} == {"cluster_upgrade", "volume_manager"}
    assert fuel2(lab, "env", "extension", "show", "1") == {"extensions": "volume_manager"}
    out = fuel2_text(lab, "env", "extension", "enable", "1", "-E", "cluster_upgrade")
    assert "cluster_upgrade have been enabled" in out
    assert fuel2(lab, "env", "extension", "show", "1") == {"extensions": "cluster_upgrade, volume_manager"}
    out = fuel2_text(lab, "env", "extension", "disable", "1", "-E", "cluster_upgrade")
    assert "cluster_upgrade have been disabled" in out
    assert fuel2(lab, "env", "extension", "show", "1") == {"extensions": "volume_manager"}
