"""runbook.lib.hosts: testinfra hosts that ride on the pool's verified connections."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from runbook.config import load_target
from runbook.errors import RemoteTimeout, UnreachableError
from runbook.lib.hosts import PoolBackend, get_host, get_hosts
from runbook.lib.ssh import SSHPool


@pytest.fixture
def pool(shared_lab):
    with SSHPool(load_target(shared_lab.dir / "target.yaml"), connect_timeout=5) as pool:
        yield pool


def test_controller_is_ubuntu_and_runs_nova_api_over_the_pool(shared_lab, pool):
    controller = shared_lab.nodes_with_role("controller")[0]
    host = get_host(pool, controller["hostname"])
    assert isinstance(host.backend, PoolBackend)
    assert host.backend.get_pytest_id() == f"paramiko://{controller['admin_ip']}"
    info = host.system_info
    assert (info.distribution, info.release) == ("ubuntu", "14.04")
    assert host.service("nova-api").is_running
    assert host.check_output("hostname") == controller["hostname"]
    # The same connection as the pool's own calls: no second (unverified) one.
    client = pool.client(controller["hostname"])
    assert host.backend.client is client
    assert pool.run(controller["hostname"], "true").ok and pool.client(controller["hostname"]) is client
    assert get_host(pool, controller["admin_ip"]) is host  # cached per address


def test_compute_does_not_run_nova_api(shared_lab, pool):
    computes = [n["hostname"] for n in shared_lab.nodes_with_role("compute")]
    hosts = get_hosts(pool, computes)
    assert [h.backend.get_pytest_id() for h in hosts] == [
        f"paramiko://{shared_lab.node(n)['admin_ip']}" for n in computes]
    assert all(h.service("nova-compute").is_running and not h.service("nova-api").is_running for h in hosts)


def test_testinfra_host_refuses_a_changed_host_key(shared_lab, tmp_path: Path):
    node1, node2 = shared_lab.node("node-1")["admin_ip"], shared_lab.node("node-2")["admin_ip"]
    lines = shared_lab.known_hosts.read_text().splitlines(keepends=True)
    forged = [line for line in lines if line.split()[0] != node1]
    forged += [line.replace(node2, node1, 1) for line in lines if line.split()[0] == node2]
    (tmp_path / "known_hosts").write_text("".join(forged))
    data = shared_lab.target
    data["ssh"]["known_hosts"] = str(tmp_path / "known_hosts")
    (tmp_path / "target.yaml").write_text(yaml.safe_dump(data))
    with SSHPool(load_target(tmp_path / "target.yaml"), connect_timeout=5) as pool, \
            pytest.raises(UnreachableError, match="host key changed"):
        get_host(pool, "node-1").run("hostname")


def test_testinfra_commands_have_a_timeout(lab):
    lab.cli("fault", "add", "--node", "node-1", "--op", "uname", "--kind", "hang")
    with SSHPool(load_target(lab.dir / "target.yaml")) as pool:
        host = get_host(pool, "node-1", command_timeout=1.0)
        started = time.monotonic()
        with pytest.raises(RemoteTimeout):
            host.run("uname -r")
        assert time.monotonic() - started < 3.0
        assert host.check_output("hostname") == "node-1"
