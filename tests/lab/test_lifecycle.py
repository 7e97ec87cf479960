"""The lab as a process: client files, persistence, snapshots, SSH faults, CLI errors."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import stat
import subprocess
import threading
import time

import paramiko
import pytest
import yaml

from fuellab.lab import write_secret_file
from tests.labkit import LabHandle, fuellab


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_client_files_are_written_and_secrets_are_private(shared_lab):
    d = shared_lab.dir
    for name in ("fuel_client.yaml", "clouds.yaml", "id_ed25519", "world.db"):
        assert _mode(d / name) == 0o600, name
    for secret in (d / "secrets").iterdir():
        assert _mode(secret) == 0o600, secret
    settings = yaml.safe_load((d / "fuel_client.yaml").read_text())
    assert settings["SERVER_ADDRESS"] == shared_lab.status()["fuel"].split("//")[1].split(":")[0]
    assert settings["OS_PASSWORD"] == (d / "secrets" / "fuel_admin_password").read_text().strip()
    target = shared_lab.target
    assert target["fuel"]["password_file"].endswith("fuel_admin_password")
    assert "password" not in target["fuel"], "target.yaml names credential files, never holds them"
    clouds = yaml.safe_load((d / "clouds.yaml").read_text())["clouds"]
    assert "env-1" in clouds and clouds["env-1"]["auth"]["auth_url"].endswith("/v3")


def test_a_rewritten_client_file_is_never_seen_half_written(tmp_path):
    """The lab rewrites clouds.yaml while clients read it (a seed env appears, a snapshot is restored):
    every read sees a whole file, old or new, and no temporary file is left behind."""
    path = tmp_path / "clouds.yaml"
    versions = [yaml.safe_dump({"clouds": {f"env-{i}": {"auth": {"x": "y" * 4000}} for i in range(1, n + 2)}})
                for n in range(2)]
    write_secret_file(path, versions[0])
    stop, seen = threading.Event(), []

    def rewrite() -> None:
        while not stop.is_set():
            for text in versions:
                write_secret_file(path, text)

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        for _ in range(2000):
            seen.append(path.read_text())
    finally:
        stop.set()
        writer.join()
    assert set(seen) <= set(versions), "a reader saw a partial file"
    assert _mode(path) == 0o600 and [p.name for p in tmp_path.iterdir()] == ["clouds.yaml"]


def test_known_hosts_pins_every_node(shared_lab):
    hosts = paramiko.HostKeys(str(shared_lab.known_hosts))
    for node in shared_lab.nodes():
        pattern = node["admin_ip"] if shared_lab.ssh_port == 22 else f"[{node['admin_ip']}]:{shared_lab.ssh_port}"
        assert pattern in hosts, node["hostname"]
    client = shared_lab.ssh("node-1")
    try:
        served = client.get_transport().get_remote_server_key()
    finally:
        client.close()
    pinned = hosts.lookup(shared_lab.node("node-1")["admin_ip"] if shared_lab.ssh_port == 22
                          else f"[{shared_lab.node('node-1')['admin_ip']}]:{shared_lab.ssh_port}")
    assert served.get_base64() in {k.get_base64() for k in pinned.values()}


def test_a_wrong_host_key_is_detected(shared_lab, tmp_path):
    """Pinned keys make a changed or unknown host key visible to a verifying client."""
    node1, node2 = shared_lab.node("node-1"), shared_lab.node("node-2")
    lines = shared_lab.known_hosts.read_text().splitlines()
    key_of = {line.split()[0]: line.split(None, 1)[1] for line in lines}
    port = shared_lab.ssh_port

    def pattern(ip: str) -> str:
        return ip if port == 22 else f"[{ip}]:{port}"

    # node-1's entry carries node-2's key: a man in the middle would look like this.
    forged = tmp_path / "known_hosts"
    forged.write_text(f"{pattern(node1['admin_ip'])} {key_of[pattern(node2['admin_ip'])]}\n")
    client = paramiko.SSHClient()
    client.load_host_keys(str(forged))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        client.connect(node1["admin_ip"], port, username="root", key_filename=str(shared_lab.key),
                       look_for_keys=False, allow_agent=False, timeout=5)
    unknown = paramiko.SSHClient()
    unknown.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        unknown.connect(node1["admin_ip"], port, username="root", key_filename=str(shared_lab.key),
                        look_for_keys=False, allow_agent=False, timeout=5)


def test_only_the_master_key_logs_in(shared_lab, tmp_path):
    other = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") else None
    key_file = tmp_path / "other"
    if other is None:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)], check=True)
    else:  # pragma: no cover - paramiko cannot generate ed25519 keys today
        other.write_private_key_file(str(key_file))
    node = shared_lab.node("node-1")
    client = paramiko.SSHClient()
    client.load_host_keys(str(shared_lab.known_hosts))
    with pytest.raises(paramiko.AuthenticationException):
        client.connect(node["admin_ip"], shared_lab.ssh_port, username="root", key_filename=str(key_file),
                       look_for_keys=False, allow_agent=False, timeout=5)


def _sftp_write(lab, hostname: str, path: str, data: bytes) -> None:
    client = lab.ssh(hostname)
    try:
        with client.open_sftp() as sftp, sftp.open(path, "wb") as handle:
            handle.write(data)
    finally:
        client.close()


def _sftp_read(lab, hostname: str, path: str) -> bytes | None:
    client = lab.ssh(hostname)
    try:
        with client.open_sftp() as sftp:
            try:
                with sftp.open(path, "rb") as handle:
                    return handle.read()
            except FileNotFoundError:
                return None
    finally:
        client.close()


def test_state_survives_down_and_up(lab):
    _sftp_write(lab, "node-4", "/root/marker", b"kept across restarts\n")
    lab.cli("fault", "add", "--node", "node-5", "--op", "mysqldump", "--kind", "fail")
    before = lab.status()
    lab.stop()
    lab.up()
    after = lab.status()
    assert _sftp_read(lab, "node-4", "/root/marker") == b"kept across restarts\n"
    assert [f["op"] for f in after["faults"]] == ["mysqldump"]
    assert after["lab_time"] >= before["lab_time"], "lab time goes on after a restart"
    assert [(n["hostname"], n["status"], n["roles"]) for n in after["nodes"]] == [
        (n["hostname"], n["status"], n["roles"]) for n in before["nodes"]
    ]


def test_snapshot_and_restore(lab):
    lab.snapshot("before-change")
    _sftp_write(lab, "node-1", "/etc/nova/nova.conf", b"[DEFAULT]\nbroken = yes\n")
    lab.cli("fault", "add", "--node", "node-1", "--op", "ssh", "--kind", "ssh-drop", "--times", "1")
    lab.restore("before-change")
    assert lab.status()["faults"] == []
    restored = _sftp_read(lab, "node-1", "/etc/nova/nova.conf")
    assert restored is not None and b"broken" not in restored and b"rabbit_hosts" in restored
    missing = lab.cli("restore", "no-such-snapshot", check=False)
    assert missing.returncode == 2 and "no snapshot named 'no-such-snapshot'" in missing.stderr


def _ssh_works(lab, hostname: str) -> bool:
    try:
        client = lab.ssh(hostname, timeout=3)
    except (paramiko.SSHException, OSError, EOFError):
        return False
    try:
        _, out, _ = client.exec_command("true", timeout=5)
        return out.channel.recv_exit_status() == 0
    except (paramiko.SSHException, OSError, EOFError):
        return False
    finally:
        client.close()


def test_ssh_drop_fault_takes_effect_and_clears(lab):
    assert _ssh_works(lab, "node-2")
    out = lab.cli("fault", "add", "--node", "node-2", "--op", "ssh", "--kind", "ssh-drop").stdout
    assert "ssh-drop on node-2" in out
    assert not _ssh_works(lab, "node-2")
    assert _ssh_works(lab, "node-3"), "only the named node is affected"
    listed = lab.cli("fault", "list").stdout
    assert "ssh-drop" in listed and "node-2" in listed
    assert "cleared 1 fault" in lab.cli("fault", "clear").stdout
    assert _ssh_works(lab, "node-2")


def test_fault_with_times_fires_that_often(lab):
    lab.cli("fault", "add", "--node", "node-3", "--op", "ssh", "--kind", "ssh-drop", "--times", "1")
    assert not _ssh_works(lab, "node-3")
    assert _ssh_works(lab, "node-3")
    assert lab.status()["faults"] == []


def test_ssh_drop_cuts_open_connections(lab):
    client = lab.ssh("node-4")
    try:
        lab.cli("fault", "add", "--node", "node-4", "--op", "ssh", "--kind", "ssh-drop")
        with pytest.raises((paramiko.SSHException, EOFError, OSError)):
            _, out, _ = client.exec_command("true", timeout=5)
            out.channel.recv_exit_status()
            client.exec_command("true", timeout=5)
    finally:
        client.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--node", "node-99", "--op", "ssh", "--kind", "ssh-drop"], "no node matches 'node-99'"),
        (["--node", "node-1", "--op", "ssh", "--kind", "ssh-drop", "--times", "0"], "--times must be at least 1"),
    ],
)
def test_bad_fault_is_refused_with_a_clear_message(lab, args, message):
    proc = lab.cli("fault", "add", *args, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert lab.status()["faults"] == []


def test_unknown_fault_kind_is_a_usage_error(shared_lab):
    proc = shared_lab.cli("fault", "add", "--node", "node-1", "--op", "x", "--kind", "meteor", check=False)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_cli_without_a_running_lab_says_how_to_start_it(tmp_path):
    proc = fuellab("status", "--dir", str(tmp_path / "nothing"), check=False)
    assert proc.returncode == 3
    assert "fuellab up --detach" in proc.stderr


def test_up_refuses_other_knobs_on_an_existing_lab(tmp_path, spare_prefix):
    lab_dir = str(tmp_path / "small")
    fuellab("up", "--detach", "--dir", lab_dir, "--prefix", str(spare_prefix), "--computes", "1", "--free-nodes", "0")
    try:
        again = fuellab("up", "--detach", "--dir", lab_dir, check=False)
        assert again.returncode == 0 and "already running" in again.stdout
        fuellab("down", "--dir", lab_dir)
        proc = fuellab("up", "--detach", "--dir", lab_dir, "--computes", "7", check=False)
        assert proc.returncode == 2
        assert "'computes': 7" in proc.stderr and "fuellab reset" in proc.stderr
    finally:
        fuellab("down", "--dir", lab_dir, check=False)


def _stopped_lab_time(lab_dir) -> float:
    """The lab time a stopped lab froze in its world (where its clock resumes)."""
    with contextlib.closing(sqlite3.connect(f"file:{lab_dir / 'world.db'}?mode=ro", uri=True)) as conn:
        (value,) = conn.execute("SELECT value FROM meta WHERE key = 'clock_offset'").fetchone()
    return float(json.loads(value))


def test_a_stopped_labs_clock_runs_at_a_new_factor_from_where_it_stopped(tmp_path, spare_prefix):
    """`fuellab up --time-factor` on an existing lab: refused while it runs (exit 2, nothing changed);
    once stopped, lab time carries on from where it stopped, at the new speed."""
    lab_dir = str(tmp_path / "retimed")
    fuellab("up", "--detach", "--dir", lab_dir, "--prefix", str(spare_prefix), "--computes", "1", "--free-nodes", "0")
    lab = LabHandle(tmp_path / "retimed")
    try:
        refused = fuellab("up", "--detach", "--dir", lab_dir, "--time-factor", "1", check=False)
        assert refused.returncode == 2 and "fuellab down" in refused.stderr
        assert yaml.safe_load((lab.dir / "lab.yaml").read_text())["time_factor"] == 0.001
        fuellab("down", "--dir", lab_dir)
        stopped = _stopped_lab_time(lab.dir)
        assert "0.001 -> 1.0" in fuellab("up", "--detach", "--dir", lab_dir, "--time-factor", "1").stdout
        resumed = lab.status()["lab_time"]
        time.sleep(0.5)
        later = lab.status()["lab_time"]
        # Lab time carries on from where it stopped (the start takes a few wall s, as many lab s now),
        # and 0.5 wall s are ~0.5 lab s, not the 500 they were at the old speed.
        assert stopped <= resumed < stopped + 120 and 0.4 < later - resumed < 30, (stopped, resumed, later)
        assert yaml.safe_load((lab.dir / "lab.yaml").read_text())["time_factor"] == 1.0
    finally:
        lab.stop()


def test_up_refuses_unknown_scenario(tmp_path, spare_prefix):
    proc = fuellab("up", "--dir", str(tmp_path / "x"), "--scenario", "nope", "--prefix", str(spare_prefix),
                   check=False)
    assert proc.returncode == 2 and "unknown scenario 'nope'" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_every_node_listens_on_its_admin_address(shared_lab):
    for node in shared_lab.nodes():
        with socket.create_connection((node["admin_ip"], shared_lab.ssh_port), timeout=5) as sock:
            assert sock.recv(64).startswith(b"SSH-2.0-")


def test_reset_recreates_the_world_and_keeps_it_running(tmp_path, spare_prefix):
    lab_dir = tmp_path / "resettable"
    fuellab("up", "--detach", "--dir", str(lab_dir), "--prefix", str(spare_prefix),
            "--computes", "1", "--free-nodes", "0")
    small = LabHandle(lab_dir)
    try:
        _sftp_write(small, "node-1", "/root/marker", b"before reset\n")
        small.cli("fault", "add", "--node", "node-1", "--op", "mysqldump", "--kind", "fail")
        out = small.cli("reset").stdout
        assert "reset to scenario ha-61" in out
        assert small.status()["faults"] == []
        assert _sftp_read(small, "node-1", "/root/marker") is None
        assert len(small.nodes()) == 3 + 1 + 3, "the knobs the lab was created with are kept"
    finally:
        small.stop()


def test_exec_and_sftp_work_on_every_node(shared_lab):
    for node in shared_lab.nodes():
        client = shared_lab.ssh(node["hostname"])
        try:
            _, out, _ = client.exec_command("hostname", timeout=10)
            assert out.read().decode().strip() == node["hostname"]
            payload = f"from the master to {node['hostname']}\n".encode()
            with client.open_sftp() as sftp:
                with sftp.open("/tmp/sftp-probe", "wb") as handle:
                    handle.write(payload)
                with sftp.open("/tmp/sftp-probe", "rb") as handle:
                    assert handle.read() == payload
                sftp.remove("/tmp/sftp-probe")
        finally:
            client.close()
