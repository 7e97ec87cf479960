"""A reachable guest's floating IP as a real TCP listener.

While a guest is reachable, the lab listens on `<floating IP>:<probe port>`
(22 when the lab runs as root, else target.yaml's vm_probe_port); a client
that connects gets the guest's SSH banner at once, naming the guest, then the
connection closes. While it is unreachable nothing listens, so a TCP probe is
refused. Sockets are plain non-blocking ones driven by the event loop's
reader callbacks: thousands of guests cost one descriptor each and no task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

log = logging.getLogger("fuellab.dataplane")


def probe_port(ssh_port: int) -> int:
    """The port a guest's sshd answers on in this lab (what clientfiles writes as vm_probe_port)."""
    return 22 if ssh_port == 22 else 2022


def banner(uuid: str) -> bytes:
    return f"SSH-2.0-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2.3 fuellab-vm={uuid}\r\n".encode()


class Listener:
    """One guest's listening socket; `close()` makes its address refuse connections."""

    def __init__(self, loop: asyncio.AbstractEventLoop, address: str, port: int, uuid: str) -> None:
        self.loop = loop
        self.address = address
        self.port = port
        self.uuid = uuid
        self._banner = banner(uuid)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            sock.bind((address, port))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        self.sock: socket.socket | None = sock
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        sock = self.sock
        if sock is None:
            return
        for _ in range(64):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            with contextlib.suppress(OSError):
                conn.setblocking(False)
                conn.send(self._banner)
            conn.close()

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        with contextlib.suppress(Exception):
            self.loop.remove_reader(sock.fileno())
        sock.close()


def open_listener(loop: asyncio.AbstractEventLoop, address: str, port: int, uuid: str) -> Listener | None:
    try:
        return Listener(loop, address, port, uuid)
    except OSError as exc:
        log.warning("guest %s: cannot listen on %s:%d: %s", uuid, address, port, exc)
        return None
