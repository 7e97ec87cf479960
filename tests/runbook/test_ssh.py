"""runbook.lib.ssh against the lab's nodes: verified connections, timeouts, SFTP, fan-out."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import paramiko
import pytest
import yaml

from runbook import redact
from runbook.config import Target, load_target
from runbook.errors import RemoteError, RemoteTimeout, UnreachableError
from runbook.lib.ssh import SSHPool


@pytest.fixture
def target(shared_lab) -> Target:
    return load_target(shared_lab.dir / "target.yaml")


@pytest.fixture
def pool(target):
    with SSHPool(target, connect_timeout=5, command_timeout=20) as pool:
        yield pool


def target_with_known_hosts(lab, tmp_path: Path, lines: list[str]) -> Target:
    known = tmp_path / "known_hosts"
    known.write_text("".join(lines))
    data = lab.target
    data["ssh"]["known_hosts"] = str(known)
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_target(path)


def test_run_by_hostname_and_by_address_share_one_connection(shared_lab, pool):
    address = shared_lab.node("node-1")["admin_ip"]
    assert pool.address("node-1") == address and pool.address(address) == address
    result = pool.run("node-1", "hostname; echo warn >&2; exit 3")
    assert (result.status, result.stdout, result.stderr, result.ok) == (3, "node-1\n", "warn\n", False)
    assert pool.client("node-1") is pool.client(address)
    sock = pool.client("node-1").get_transport().sock
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_stdin_reaches_the_command_and_ends(pool):
    assert pool.run("node-1", "cat", stdin="line one\nline two\n").stdout == "line one\nline two\n"
    assert pool.run("node-1", "wc -l", stdin=b"a\nb\nc\n").stdout.strip() == "3"
    assert pool.run("node-1", "cat").stdout == ""  # no stdin given: EOF, not a hang


def test_check_raises_with_node_redacted_command_and_stderr(pool):
    redact.register("hunter2-ssh-secret")
    assert pool.check("node-1", "echo ok").stdout == "ok\n"
    with pytest.raises(RemoteError) as caught:
        pool.check("node-1", "ls /nonexistent-hunter2-ssh-secret")
    error = caught.value
    assert error.node == "node-1" and error.status != 0
    assert error.command == "ls /nonexistent-***" and "No such file" in error.stderr
    assert "hunter2" not in str(error) and error.fix


def test_sftp_put_get_and_text(pool, tmp_path):
    local = tmp_path / "payload.bin"
    local.write_bytes(os.urandom(200_000))
    pool.put("node-1", str(local), "/tmp/payload.bin", mode=0o600)
    assert pool.run("node-1", "stat -c %a /tmp/payload.bin").stdout.strip() == "600"
    back = tmp_path / "back.bin"
    pool.get("node-1", "/tmp/payload.bin", str(back))
    assert back.read_bytes() == local.read_bytes()
    pool.write_text("node-1", "/tmp/note.txt", "hello\n", mode=0o640)
    assert pool.read_text("node-1", "/tmp/note.txt") == "hello\n"
    assert pool.run("node-1", "stat -c %a /tmp/note.txt").stdout.strip() == "640"
    with pytest.raises(RemoteError, match="no such file"):
        pool.read_text("node-1", "/tmp/absent.txt")


def test_edit_is_atomic_and_keeps_the_mode(lab, tmp_path):
    target = load_target(lab.dir / "target.yaml")
    rootfs_file = lab.dir / "nodes" / "node-1" / "rootfs" / "etc" / "nova" / "nova.conf"
    with SSHPool(target) as pool:
        pool.run("node-1", "chmod 640 /etc/nova/nova.conf")
        before = pool.read_text("node-1", "/etc/nova/nova.conf")
        with open(rootfs_file) as reader:  # a reader that opened the file before the edit ...
            assert pool.edit("node-1", "/etc/nova/nova.conf", lambda t: t + "[octane]\nmarker = 1\n")
            assert reader.read() == before  # ... keeps the old file whole: it was replaced, not rewritten
        after = pool.read_text("node-1", "/etc/nova/nova.conf")
        assert after == before + "[octane]\nmarker = 1\n"
        assert pool.run("node-1", "stat -c %a /etc/nova/nova.conf").stdout.strip() == "640"
        assert not pool.edit("node-1", "/etc/nova/nova.conf", lambda t: t)  # unchanged: no write

        def broken(text: str) -> str:
            raise ValueError("bad edit")

        with pytest.raises(ValueError):
            pool.edit("node-1", "/etc/nova/nova.conf", broken)
        assert pool.read_text("node-1", "/etc/nova/nova.conf") == after
        leftovers = [p for p in rootfs_file.parent.iterdir() if "octane-" in p.name]
        assert leftovers == []


def test_changed_host_key_is_refused(shared_lab, tmp_path):
    lines = shared_lab.known_hosts.read_text().splitlines(keepends=True)
    node1, node2 = shared_lab.node("node-1")["admin_ip"], shared_lab.node("node-2")["admin_ip"]
    other_key = next(line for line in lines if line.split()[0] in (node2, f"[{node2}]:{shared_lab.ssh_port}"))
    forged = [line for line in lines if line.split()[0] not in (node1, f"[{node1}]:{shared_lab.ssh_port}")]
    forged.append(other_key.replace(node2, node1, 1))
    with SSHPool(target_with_known_hosts(shared_lab, tmp_path, forged), connect_timeout=5) as pool:
        with pytest.raises(UnreachableError, match="node-1 .*host key changed") as caught:
            pool.run("node-1", "hostname")
        assert caught.value.fix.startswith("verify the node and update known_hosts")
        assert pool.run("node-2", "hostname").stdout == "node-2\n"  # the others are still trusted


def test_unknown_host_is_refused(shared_lab, tmp_path):
    node1 = shared_lab.node("node-1")["admin_ip"]
    lines = [line for line in shared_lab.known_hosts.read_text().splitlines(keepends=True)
             if node1 not in line.split()[0].strip("[]").split("]:")]
    with SSHPool(target_with_known_hosts(shared_lab, tmp_path, lines), connect_timeout=5) as pool:
        with pytest.raises(UnreachableError, match=r"node-1 .*host key unknown") as caught:
            pool.run("node-1", "hostname")
        assert "verify the node and update known_hosts" in caught.value.fix


def test_unreachable_address_is_named(shared_lab, pool):
    prefix = shared_lab.target["fuel"]["address"].split(".")[1]
    with pytest.raises(UnreachableError, match=rf"127\.{prefix}\.0\.250:\d+: cannot connect"):
        pool.run(f"127.{prefix}.0.250", "hostname")


def test_hanging_command_times_out_and_the_connection_stays_usable(lab):
    lab.cli("fault", "add", "--node", "node-1", "--op", "uname", "--kind", "hang")
    with SSHPool(load_target(lab.dir / "target.yaml")) as pool:
        started = time.monotonic()
        with pytest.raises(RemoteTimeout, match=r"node-1: `uname -r` did not finish within 1 s"):
            pool.run("node-1", "uname -r", timeout=1.0)
        assert 1.0 <= time.monotonic() - started < 3.0
        assert pool.run("node-1", "hostname", timeout=5).stdout == "node-1\n"


def test_dead_connection_is_replaced(lab):
    with SSHPool(load_target(lab.dir / "target.yaml")) as pool:
        first = pool.client("node-1")
        first.close()
        assert pool.run("node-1", "hostname").stdout == "node-1\n"
        assert pool.client("node-1") is not first
        # The lab cuts the connection under a running command: not retried (it may have run) ...
        lab.cli("fault", "add", "--node", "node-1", "--op", "ssh", "--kind", "ssh-drop", "--times", "1")
        with pytest.raises(UnreachableError, match="node-1"):
            pool.run("node-1", "hostname", timeout=5)
        # ... but the next call reconnects.
        assert pool.run("node-1", "hostname", timeout=5).stdout == "node-1\n"


def test_fan_out_is_bounded_and_reports_each_node(lab):
    lab.cli("fault", "add", "--node", "node-3", "--op", "hostname", "--kind", "fail")
    nodes = [f"node-{i}" for i in range(1, 7)]
    running, peak, guard = [0], [0], threading.Lock()

    def probe(node: str) -> str:
        with guard:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.1)
            return pool.check(node, "hostname", timeout=10).stdout.strip()
        finally:
            with guard:
                running[0] -= 1

    with SSHPool(load_target(lab.dir / "target.yaml")) as pool:
        outcome = pool.fan_out(nodes, probe, max_workers=2)
        assert peak[0] == 2
        assert outcome.results == {n: n for n in nodes if n != "node-3"}
        assert list(outcome.errors) == ["node-3"] and isinstance(outcome.errors["node-3"], RemoteError)
        assert not outcome.ok
        slow = pool.fan_out(["node-1", "node-2"], lambda n: time.sleep(2 if n == "node-2" else 0) or n,
                            timeout=0.5)
        assert slow.results == {"node-1": "node-1"} and isinstance(slow.errors["node-2"], RemoteTimeout)


def test_key_from_the_target_only(shared_lab, tmp_path):
    """A key the nodes do not authorize is refused with a clear fix (no agent, no ~/.ssh)."""
    key = tmp_path / "other_key"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(key))  # paramiko cannot generate ed25519
    key.chmod(0o600)
    data = shared_lab.target
    data["ssh"]["key"] = str(key)
    (tmp_path / "target.yaml").write_text(yaml.safe_dump(data))
    with SSHPool(load_target(tmp_path / "target.yaml"), connect_timeout=5) as pool, \
            pytest.raises(UnreachableError, match="authentication as root .* refused") as caught:
        pool.run("node-1", "hostname")
    assert caught.value.fix == "authorize the target's key on the node"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another owner needs root (CI runs as root)")
def test_edit_keeps_the_owner_and_group(lab):
    """nova.conf is root:nova 0640 on a real node: a rewrite that left it root:root would lock
    nova out of its own config. The lab's files are the host's, so a test as root can give one
    to another owner and see that the replacement keeps it."""
    target = load_target(lab.dir / "target.yaml")
    rootfs_file = lab.dir / "nodes" / "node-1" / "rootfs" / "etc" / "nova" / "nova.conf"
    os.chown(rootfs_file, 4242, 4343)
    with SSHPool(target) as pool:
        assert pool.edit("node-1", "/etc/nova/nova.conf", lambda t: t + "[octane]\nmarker = 1\n")
    owner = rootfs_file.stat()
    assert (owner.st_uid, owner.st_gid) == (4242, 4343)
