"""Helpers for tests: start a lab with the `fuellab` CLI and reach it with the real clients."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import yaml

from fuellab.client import ControlClient

FUELLAB = [sys.executable, "-m", "fuellab.cli"]


def fuellab(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the `fuellab` command line as an operator would."""
    proc = subprocess.run([*FUELLAB, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"fuellab {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class LabHandle:
    dir: Path

    # ------------------------------------------------------------------ lifecycle

    def up(self) -> None:
        fuellab("up", "--detach", "--dir", str(self.dir))

    def stop(self) -> None:
        fuellab("down", "--dir", str(self.dir), check=False)

    def snapshot(self, name: str) -> None:
        fuellab("snapshot", name, "--dir", str(self.dir))

    def restore(self, name: str) -> None:
        # Through the control socket directly: tests restore before each test and the
        # CLI's own restore path is tested on its own (test_lifecycle).
        self.control.post("/restore", {"name": name})

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return fuellab(*args, "--dir", str(self.dir), check=check)

    @property
    def control(self) -> ControlClient:
        return ControlClient(self.dir)

    def status(self) -> dict[str, Any]:
        return self.control.get("/status")

    def inspect(self) -> dict[str, Any]:
        return self.control.get("/inspect")

    # ------------------------------------------------------------------ what clients read

    @property
    def target(self) -> dict[str, Any]:
        return yaml.safe_load((self.dir / "target.yaml").read_text())

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def ssh_port(self) -> int:
        return int(self.target["ssh"]["port"])

    def nodes(self) -> list[dict[str, Any]]:
        return self.status()["nodes"]

    def node(self, hostname: str) -> dict[str, Any]:
        return next(n for n in self.nodes() if n["hostname"] == hostname)

    def nodes_with_role(self, role: str) -> list[dict[str, Any]]:
        return [n for n in self.nodes() if role in n["roles"]]

    def ssh(self, hostname: str, timeout: float = 10.0) -> paramiko.SSHClient:
        """A paramiko client that verifies the node's host key against the lab's known_hosts."""
        address = self.node(hostname)["admin_ip"]
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        sock = socket.create_connection((address, self.ssh_port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.connect(address, self.ssh_port, username="root", key_filename=str(self.key),
                       look_for_keys=False, allow_agent=False, timeout=timeout, sock=sock,
                       banner_timeout=timeout, auth_timeout=timeout)
        return client

    def run(self, hostname: str, command: str, stdin: bytes | None = None,
            timeout: float = 30.0) -> tuple[int, str, str]:
        """Run one command on a node; (exit status, stdout, stderr)."""
        client = self.ssh(hostname)
        try:
            chan_in, out, err = client.exec_command(command, timeout=timeout)
            if stdin is not None:
                chan_in.write(stdin)
                chan_in.channel.shutdown_write()
            stdout, stderr = out.read().decode(), err.read().decode()
            return out.channel.recv_exit_status(), stdout, stderr
        finally:
            client.close()


def start_lab(lab_dir: Path, prefix: int, *extra: str) -> LabHandle:
    fuellab("up", "--detach", "--dir", str(lab_dir), "--prefix", str(prefix), *extra)
    return LabHandle(lab_dir)
