"""Probes: a TCP connect to each VM's floating IP, and reads and writes through the original env's API.

TCP: every endpoint is probed on its own schedule from one thread with
non-blocking sockets (epoll): a connect is sent, and the probe ends when the
handshake completes (up), is refused or fails (down), or `timeout` passes
(down). Endpoints are due together, so hundreds of them cost one wake-up per
interval, and an endpoint whose packets vanish (a real cloud's unreachable
address) is probed again only after its own timeout, without delaying the
others. A probe's time is when its connect was sent.

The socket is closed with SO_LINGER 0 (a reset): four connects a second per VM
would otherwise leave thousands of sockets in TIME_WAIT on the machine.
Nothing is read or sent: a completed handshake is what "reachable" means.

API: a read is `GET /servers?limit=1` through openstacksdk (auth, catalog,
nova and its DB, one small page); a write creates a key pair
`octane-monitor-<n>` in the admin project and deletes it at once. Neither
retries (a retry would hide the outage being measured); both give up after the
API timeout. A key pair whose delete was refused is deleted on a later probe,
so the write probe leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openstack.connection import Connection

KEYPAIR_PREFIX = "octane-monitor-"
_LINGER_RESET = struct.pack("ii", 1, 0)

Result = Callable[[str, bool, str, tuple[float, float]], None]
"""on_result(key, up, why, (wall, monotonic) when the probe was sent)."""


@dataclass
class _Probe:
    key: str
    address: tuple[str, int]
    due: float = 0.0  # monotonic time of the next connect
    sock: socket.socket | None = None
    sent: tuple[float, float] = (0.0, 0.0)
    deadline: float = 0.0


class TcpProber:
    """Connects to every endpoint once per `interval`; `poll()` does the due work.

    Linux epoll directly (not `selectors`): at 800 probes a second the registration
    bookkeeping of `selectors` was a fifth of the monitor's CPU. Answers that arrive
    together are taken in one wake-up (`COALESCE`): a probe's time is when it was sent,
    so waiting a moment for its neighbours costs no precision.
    """

    COALESCE = 0.003  # seconds waited after the first answer for the others of the batch

    def __init__(self, interval: float, timeout: float, on_result: Result) -> None:
        self.interval = interval
        self.timeout = timeout
        self.on_result = on_result
        self._probes: dict[str, _Probe] = {}
        self._inflight: dict[int, _Probe] = {}  # by socket descriptor
        self._epoll = select.epoll()

    # ------------------------------------------------------------------ endpoints

    def set_endpoints(self, endpoints: dict[str, tuple[str, int]]) -> None:
        """Probe exactly these endpoints from now on (a probe in flight to a removed one is dropped)."""
        for key in [k for k in self._probes if k not in endpoints or self._probes[k].address != endpoints[k]]:
            self._drop(self._probes.pop(key))
        for key, address in endpoints.items():
            self._probes.setdefault(key, _Probe(key, address, due=time.monotonic()))

    def close(self) -> None:
        for probe in self._probes.values():
            self._drop(probe)
        self._probes.clear()
        self._epoll.close()

    # ------------------------------------------------------------------ the loop

    def poll(self, max_wait: float) -> None:
        """Send the due connects, then wait at most `max_wait` s for answers and timeouts."""
        now = time.monotonic()
        due = [p for p in self._probes.values() if p.sock is None and p.due <= now]
        if due:
            sent = (round(time.time(), 3), round(now, 3))
            for probe in due:
                self._send(probe, sent)
        wait = max(0.0, min(max_wait, self._next_event() - time.monotonic()))
        events = self._epoll.poll(wait)
        if events and len(events) < len(self._inflight):
            time.sleep(self.COALESCE)
            events += self._epoll.poll(0)
        for fd, _ in events:
            probe = self._inflight.get(fd)
            if probe is not None and probe.sock is not None:
                code = probe.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                self._finish(probe, code == 0, _why(code))
        if self._inflight:
            now = time.monotonic()
            for probe in [p for p in self._inflight.values() if p.deadline <= now]:
                self._finish(probe, False, "timeout")

    def _next_event(self) -> float:
        times = [p.deadline if p.sock is not None else p.due for p in self._probes.values()]
        return min(times, default=time.monotonic() + self.interval)

    def _send(self, probe: _Probe, sent: tuple[float, float]) -> None:
        probe.sent = sent
        probe.due = sent[1] + self.interval
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:  # out of descriptors: the monitor's problem, reported as such
            self.on_result(probe.key, False, f"monitor: {errno.errorcode.get(exc.errno or 0, exc)}", sent)
            return
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        code = sock.connect_ex(probe.address)
        if code in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
            probe.sock = sock
            probe.deadline = sent[1] + self.timeout
            self._inflight[sock.fileno()] = probe
            self._epoll.register(sock.fileno(), select.EPOLLOUT)
            return
        sock.close()
        self.on_result(probe.key, code == 0, _why(code), sent)

    def _finish(self, probe: _Probe, up: bool, why: str) -> None:
        self._drop(probe)
        self.on_result(probe.key, up, why, probe.sent)

    def _drop(self, probe: _Probe) -> None:
        sock, probe.sock = probe.sock, None
        if sock is not None:
            fd = sock.fileno()
            self._inflight.pop(fd, None)
            with contextlib.suppress(OSError):
                self._epoll.unregister(fd)
            sock.close()


def _why(code: int) -> str:
    if code == 0:
        return "connected"
    return {errno.ECONNREFUSED: "refused", errno.EHOSTUNREACH: "host unreachable",
            errno.ENETUNREACH: "network unreachable", errno.ETIMEDOUT: "timeout"}.get(
        code, errno.errorcode.get(code, f"error {code}"))


# --------------------------------------------------------------------------- API


_ONCE = {"raise_exc": False, "connect_retries": 0, "status_code_retries": 0}


def _answer(response: Any) -> tuple[bool, str]:
    code = response.status_code
    return 200 <= code < 300, f"HTTP {code}"


def _failure(exc: BaseException) -> str:
    """A short, secret-free reason: the exception's class (its text may hold URLs with tokens)."""
    return type(exc).__name__


def api_read(conn: Connection, timeout: float) -> tuple[bool, str]:
    """One small read through auth, the catalog and nova: up when it answers 2xx."""
    try:
        return _answer(conn.compute.get("/servers?limit=1", timeout=timeout, **_ONCE))
    except Exception as exc:  # noqa: BLE001 - any failure to read is an outage
        return False, _failure(exc)


class WriteProbe:
    """Create then delete a key pair; leftovers (a delete refused) are deleted on later probes."""

    def __init__(self, conn: Connection, timeout: float, public_key: str) -> None:
        self.conn = conn
        self.timeout = timeout
        self.public_key = public_key
        self.pending: set[str] = set()
        self._names = (f"{KEYPAIR_PREFIX}{os.getpid()}-{n}" for n in itertools.count(1))

    def __call__(self) -> tuple[bool, str]:
        try:
            self.cleanup(limit=5)
            name = next(self._names)
            ok, why = _answer(self.conn.compute.post(
                "/os-keypairs", json={"keypair": {"name": name, "public_key": self.public_key}},
                timeout=self.timeout, **_ONCE))
            if not ok:
                return False, f"POST os-keypairs {why}"
            self.pending.add(name)
            if not self._delete(name):
                return False, "DELETE os-keypairs refused"
            return True, "created and deleted"
        except Exception as exc:  # noqa: BLE001 - any failure to write is an outage
            return False, _failure(exc)

    def _delete(self, name: str) -> bool:
        response = self.conn.compute.delete(f"/os-keypairs/{name}", timeout=self.timeout, **_ONCE)
        if 200 <= response.status_code < 300 or response.status_code == 404:
            self.pending.discard(name)
            return True
        return False

    def cleanup(self, limit: int | None = None) -> None:
        """Delete key pairs left behind (ours, and those of a monitor that crashed)."""
        for name in sorted(self.pending)[:limit]:
            self._delete(name)

    def adopt_leftovers(self) -> None:
        """Key pairs of an earlier run that could not delete them: delete them too."""
        try:
            response = self.conn.compute.get("/os-keypairs", timeout=self.timeout, **_ONCE)
            if 200 <= response.status_code < 300:
                for item in response.json().get("keypairs", []):
                    name = (item.get("keypair") or {}).get("name", "")
                    if name.startswith(KEYPAIR_PREFIX):
                        self.pending.add(name)
        except Exception:  # noqa: BLE001, S110 - best effort; the probe itself reports outages
            pass


def throwaway_public_key() -> str:
    """An RSA public key for the probe's key pairs (nova then need not generate one per probe)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode() + " octane-monitor"
