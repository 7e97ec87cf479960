"""Plain-HTTP access to the lab's Fuel API for tests: a token, JSON calls, waits. Every call has a timeout."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

from tests.labkit import LabHandle

TIMEOUT = 10.0


class FuelHTTP:
    def __init__(self, lab: LabHandle) -> None:
        fuel = lab.target["fuel"]
        self.root = f"http://{fuel['address']}:{fuel['port']}"
        self.password = Path(fuel["password_file"]).read_text().strip()
        self.session = requests.Session()
        self.session.headers["X-Auth-Token"] = self.token()

    def token(self, password: str | None = None) -> str:
        resp = requests.post(f"{self.root}/keystone/v2.0/tokens", timeout=TIMEOUT, json={
            "auth": {"tenantName": "admin",
                     "passwordCredentials": {"username": "admin", "password": password or self.password}}})
        resp.raise_for_status()
        return resp.json()["access"]["token"]["id"]

    def call(self, method: str, path: str, body: Any = None, expect: int | None = 200,
             timeout: float = TIMEOUT) -> Any:
        resp = self.session.request(method, f"{self.root}/api/v1/{path}", json=body, timeout=timeout)
        if expect is not None:
            assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.status_code != 204 else None

    def raw(self, method: str, path: str, body: Any = None, timeout: float = TIMEOUT) -> requests.Response:
        return self.session.request(method, f"{self.root}/api/v1/{path}", json=body, timeout=timeout)

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def wait_task(self, task_id: int, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.get(f"transactions/{task_id}/")
            if task["status"] in ("ready", "error"):
                return task
            time.sleep(0.05)
        raise AssertionError(f"task {task_id} did not finish within {timeout} s: {task}")

    def clone(self, name: str = "seed", orig: int = 1) -> dict[str, Any]:
        """Clone `orig` to a Kilo seed, enabling cluster_upgrade on it first as preparing the master does."""
        self.enable_extensions(orig, "cluster_upgrade")
        kilo = next(r for r in self.get("releases/") if r["version"] == "2015.1.0-7.0")
        return self.call("POST", f"clusters/{orig}/upgrade/clone", {"name": name, "release_id": kilo["id"]})

    def enable_extensions(self, env_id: int, *names: str) -> list[str]:
        return self.call("PUT", f"clusters/{env_id}/extensions/", list(names))

    def node(self, node_id: int) -> dict[str, Any]:
        return self.get(f"nodes/{node_id}/")


def sftp_read(lab: LabHandle, hostname: str, path: str) -> bytes | None:
    """A file's content over SFTP; None when the node has no such file."""
    client = lab.ssh(hostname)
    try:
        sftp = client.open_sftp()
        try:
            with sftp.open(path) as handle:
                return handle.read()
        except OSError:
            return None
    finally:
        client.close()


def sftp_write(lab: LabHandle, hostname: str, path: str, data: bytes) -> None:
    client = lab.ssh(hostname)
    try:
        sftp = client.open_sftp()
        with sftp.open(path, "wb") as handle:
            handle.write(data)
    finally:
        client.close()
