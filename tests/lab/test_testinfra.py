"""pytest-testinfra, unmodified, over paramiko with the lab's ssh_config: answers match each node's role."""

from __future__ import annotations

import pytest
import testinfra
import yaml
from testinfra.host import Host

from fuellab import releases

pytestmark = pytest.mark.filterwarnings("ignore:Unknown ssh-ed25519 host key")


def infra(lab, hostname: str) -> Host:
    """A testinfra host the way the runbook builds one (cached per spec, like testinfra's own)."""
    address = lab.node(hostname)["admin_ip"]
    return testinfra.get_host(f"paramiko://root@{address}", ssh_config=str(lab.ssh_config))


def facts(lab, hostname: str) -> dict:
    """The node's deployment facts (/etc/astute.yaml), read over SFTP."""
    client = lab.ssh(hostname)
    try:
        with client.open_sftp() as sftp, sftp.open("/etc/astute.yaml") as handle:
            return yaml.safe_load(handle.read())
    finally:
        client.close()


@pytest.fixture
def controller(shared_lab) -> str:
    return shared_lab.nodes_with_role("controller")[0]["hostname"]


@pytest.fixture
def compute(shared_lab) -> str:
    return shared_lab.nodes_with_role("compute")[0]["hostname"]


def test_system_info_is_ubuntu_trusty(shared_lab, controller):
    host = infra(shared_lab, controller)
    info = host.system_info
    assert (info.type, info.distribution, info.release, info.arch) == ("linux", "ubuntu", "14.04", "x86_64")
    # 14.04's os-release has no VERSION_CODENAME (testinfra reports None, as on a real
    # trusty host); the codename is in lsb-release.
    assert host.file("/etc/lsb-release").contains("DISTRIB_CODENAME=trusty")
    assert host.check_output("uname -r").startswith("3.13.0-")
    assert host.check_output("hostname") == controller
    assert host.check_output("hostname -f") == f"{controller}.domain.tld"
    assert host.check_output("id -u") == "0"


def test_controller_runs_nova_api(shared_lab, controller):
    host = infra(shared_lab, controller)
    nova_api = host.service("nova-api")
    assert type(nova_api).__name__ == "UpstartService"
    assert nova_api.is_running and nova_api.is_enabled
    assert host.package("nova-api").is_installed
    procs = host.process.filter(comm="nova-api")
    assert len(procs) == 1 and "/usr/bin/nova-api" in procs[0].args and procs[0].user == "nova"
    mgmt = facts(shared_lab, controller)["network_scheme"]["endpoints"]["management"]
    assert mgmt in host.interface("br-mgmt").addresses
    assert host.interface("br-mgmt").exists and not host.interface("br-nope").exists
    assert host.socket("tcp://0.0.0.0:22").is_listening
    assert host.socket(f"tcp://{mgmt}:8774").is_listening
    assert not host.socket(f"tcp://{mgmt}:16509").is_listening
    # Pacemaker-managed jobs are not started by upstart at boot (manual override, see
    # test_files_and_jobs_of_a_role), yet run where pacemaker put them.
    assert host.service("haproxy").is_running


def test_compute_runs_nova_compute_and_not_nova_api(shared_lab, compute):
    host = infra(shared_lab, compute)
    assert host.service("nova-compute").is_running and host.service("nova-compute").is_enabled
    assert not host.service("nova-api").exists
    assert not host.service("nova-api").is_running
    assert not host.package("nova-api").is_installed
    assert host.process.filter(comm="nova-api") == []
    assert host.process.get(comm="nova-compute").user == "nova"
    assert host.socket("tcp://0.0.0.0:16509").is_listening
    mgmt = facts(shared_lab, compute)["network_scheme"]["endpoints"]["management"]
    assert mgmt in host.interface("br-mgmt").addresses
    assert not host.interface("br-ex").exists  # computes have no public network
    assert not host.socket(f"tcp://{mgmt}:8774").is_listening


def test_package_versions_follow_the_release(shared_lab, controller, compute):
    installed = infra(shared_lab, controller).package("nova-api").version
    juno = {p.name: p.version for p in releases.spec(releases.JUNO).roles["controller"]}
    kilo = {p.name: p.version for p in releases.spec(releases.KILO).roles["controller"]}
    assert installed == juno["nova-api"]
    assert installed != kilo["nova-api"]
    assert infra(shared_lab, compute).package("openvswitch-switch").version.endswith("mos2")


def test_files_and_jobs_of_a_role(shared_lab, controller, compute):
    ctl, cmp_ = infra(shared_lab, controller), infra(shared_lab, compute)
    assert ctl.file("/etc/init/nova-api.conf").exists
    assert not cmp_.file("/etc/init/nova-api.conf").exists
    assert ctl.file("/etc/haproxy/conf.d/").is_directory
    assert ctl.file("/etc/init/haproxy.override").contains("^manual")


def test_a_job_left_to_pacemaker_is_not_enabled(shared_lab, controller):
    """haproxy's upstart job has a `manual` override: testinfra falls back to SysV links (find)."""
    host = infra(shared_lab, controller)
    haproxy = host.service("haproxy")
    assert haproxy.exists
    assert not haproxy.is_enabled
    assert host.service("nova-api").is_enabled
    assert host.run("find -L /etc/rc?.d/ -name 'S??haproxy'").rc == 0
    found = host.run("find /etc/init -maxdepth 1 -name 'nova-*.conf' -type f")
    assert found.rc == 0 and "/etc/init/nova-api.conf" in found.stdout.split()
    assert host.run("find /nonexistent").rc == 1
