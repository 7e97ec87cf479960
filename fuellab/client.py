"""A small client for the lab's control socket (HTTP over a Unix socket, stdlib only)."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

TIMEOUT = 60.0


class LabNotRunning(RuntimeError):
    pass


class ControlError(RuntimeError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class ControlClient:
    def __init__(self, lab_dir: Path, timeout: float = TIMEOUT) -> None:
        self.socket = Path(lab_dir) / "control.sock"
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> Any:
        if not self.socket.exists():
            raise LabNotRunning(f"no lab running in {self.socket.parent}: run `fuellab up --detach --dir {self.socket.parent}`")
        conn = _UnixConnection(str(self.socket), self.timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = json.loads(resp.read() or b"null")
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            raise LabNotRunning(f"the lab in {self.socket.parent} does not answer: {exc}") from exc
        finally:
            conn.close()
        if resp.status >= 400:
            message = data.get("error", f"HTTP {resp.status}") if isinstance(data, dict) else str(data)
            raise ControlError(message, resp.status)
        return data

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
