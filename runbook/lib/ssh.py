"""Node shells over paramiko: one verified connection per node, commands with timeouts, SFTP.

- Host keys come only from the target's known_hosts, under `RejectPolicy`: an
  unknown or changed key is refused (`UnreachableError`), never learned.
- One connection per node address, shared by every caller (commands, SFTP,
  testinfra through `runbook.lib.hosts`); a connection that died is replaced
  on next use.
- Every call has a timeout: connect, banner and auth, and each command
  (`RemoteTimeout`, the channel is closed so the node stops the command).
- Nodes are named by admin IP or by hostname; hostnames resolve through the
  target's ssh_config (`HostName`), the way `ssh -F` would.
- `fan_out` runs one function per node on a bounded thread pool and returns
  each node's result or error: one failing node never hides the others.

Commands and stderr in errors pass through `runbook.redact`.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import select
import shlex
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import paramiko

from runbook.config import Target
from runbook.errors import RemoteError, RemoteTimeout, UnreachableError
from runbook.redact import redact

CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 120.0
DEFAULT_WORKERS = 8
T = TypeVar("T")


@dataclass(frozen=True)
class Result:
    status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == 0


@dataclass
class FanOut(Generic[T]):
    """Per-node outcome of `fan_out`: `results` for nodes that answered, `errors` for the rest."""

    results: dict[str, T] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


class SSHPool:
    """Verified paramiko connections to the target's nodes, one per address."""

    def __init__(self, target: Target, *, connect_timeout: float = CONNECT_TIMEOUT,
                 command_timeout: float = COMMAND_TIMEOUT) -> None:
        self.target = target
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._config = paramiko.SSHConfig()
        if target.ssh.config is not None:
            self._config = paramiko.SSHConfig.from_path(str(target.ssh.config))
        self._key = _load_key(target)
        self._clients: dict[str, paramiko.SSHClient] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def __enter__(self) -> SSHPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ connections

    def address(self, node: str) -> str:
        """The address of a node: its ssh_config HostName, or the name itself (an IP)."""
        return self._config.lookup(node).get("hostname", node)

    def _lock(self, address: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(address, threading.Lock())

    def client(self, node: str) -> paramiko.SSHClient:
        """The live, verified connection to `node`, (re)connecting when needed."""
        address = self.address(node)
        with self._lock(address):
            client = self._clients.get(address)
            transport = client.get_transport() if client is not None else None
            if transport is not None and transport.is_active():
                return client  # type: ignore[return-value]
            if client is not None:
                client.close()
            self._clients[address] = client = self._connect(node, address)
            return client

    def drop(self, node: str) -> None:
        """Close and forget the connection to `node` (the next call reconnects)."""
        address = self.address(node)
        with self._lock(address):
            client = self._clients.pop(address, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        with self._locks_guard:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _connect(self, node: str, address: str) -> paramiko.SSHClient:
        ssh = self.target.ssh
        where = f"{node} ({address}:{ssh.port})" if node != address else f"{address}:{ssh.port}"
        client = paramiko.SSHClient()
        # Only the target's known_hosts: never ~/.ssh, never learn a key.
        client.load_host_keys(str(ssh.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        fix_keys = f"verify the node and update known_hosts ({ssh.known_hosts})"
        try:
            sock = socket.create_connection((address, ssh.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise UnreachableError(f"{where}: cannot connect: {exc}",
                                   "check that the node is up and its SSH port answers") from None
        # Nagle plus delayed ACK costs ~40 ms per round trip of small SSH packets.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            client.connect(address, ssh.port, username=ssh.user, pkey=self._key, sock=sock,
                           timeout=self.connect_timeout, banner_timeout=self.connect_timeout,
                           auth_timeout=self.connect_timeout, channel_timeout=self.connect_timeout,
                           look_for_keys=False, allow_agent=False)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise UnreachableError(
                f"{where}: host key changed (got {exc.key.get_name()} {exc.key.fingerprint}, "
                f"known_hosts has {exc.expected_key.fingerprint})", fix_keys) from None
        except paramiko.AuthenticationException:
            client.close()
            raise UnreachableError(f"{where}: authentication as {ssh.user} with {ssh.key} refused",
                                   "authorize the target's key on the node") from None
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise UnreachableError(f"{where}: host key unknown (not in {ssh.known_hosts})",
                                       fix_keys) from None
            raise UnreachableError(f"{where}: SSH handshake failed: {exc}",
                                   "check that the node is up and its SSH server answers") from None
        except (OSError, EOFError) as exc:
            client.close()
            raise UnreachableError(f"{where}: connection lost during the handshake: {exc}",
                                   "check that the node is up and its SSH server answers") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(30)
        return client

    def _session(self, node: str) -> paramiko.Channel:
        """A new channel; one reconnect when the cached connection died under us."""
        for attempt in (1, 2):
            client = self.client(node)
            transport = client.get_transport()
            try:
                if transport is None:
                    raise paramiko.SSHException("no transport")
                return transport.open_session(timeout=self.connect_timeout)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self.drop(node)
                if attempt == 2:
                    raise UnreachableError(f"{node}: cannot open a session: {exc}",
                                           "check that the node is up and its SSH server answers") from None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ commands

    def exec_raw(self, node: str, command: str | bytes, *, timeout: float | None = None,
                 stdin: str | bytes | None = None) -> tuple[int, bytes, bytes]:
        """Run `command`; (exit status, stdout, stderr) as bytes. For `run` and testinfra."""
        timeout = self.command_timeout if timeout is None else timeout
        shown = redact(command.decode(errors="replace") if isinstance(command, bytes) else command)
        chan = self._session(node)
        deadline = time.monotonic() + timeout
        out: list[bytes] = []
        err: list[bytes] = []
        try:
            chan.exec_command(command)
            if stdin is not None:
                chan.settimeout(max(deadline - time.monotonic(), 0.001))
                try:
                    chan.sendall(stdin.encode() if isinstance(stdin, str) else stdin)
                except TimeoutError:
                    raise self._timeout(node, shown, timeout) from None
                chan.settimeout(None)
            # EOF on stdin: a command that reads it (cat, mysql) must not wait for more.
            chan.shutdown_write()
            while True:
                while chan.recv_ready():
                    out.append(chan.recv(65536))
                while chan.recv_stderr_ready():
                    err.append(chan.recv_stderr(65536))
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if chan.closed and not chan.exit_status_ready():
                    raise UnreachableError(f"{node}: connection lost while running `{shown}`",
                                           "check the node, then re-run: the command may or may not have run")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout(node, shown, timeout)
                # The channel's fileno is readable when stdout or stderr data (or EOF) arrives.
                select.select([chan], [], [], min(remaining, 0.2))
            return chan.recv_exit_status(), b"".join(out), b"".join(err)
        finally:
            # Closing the channel tells the node to stop a command that is still running.
            chan.close()

    @staticmethod
    def _timeout(node: str, shown: str, timeout: float) -> RemoteTimeout:
        return RemoteTimeout(f"{node}: `{shown}` did not finish within {timeout:g} s (channel closed)",
                             "check what the command waits for on the node, then re-run")

    def run(self, node: str, command: str, *, timeout: float | None = None,
            stdin: str | bytes | None = None) -> Result:
        status, out, err = self.exec_raw(node, command, timeout=timeout, stdin=stdin)
        return Result(status, out.decode(errors="replace"), err.decode(errors="replace"))

    def check(self, node: str, command: str, *, timeout: float | None = None,
              stdin: str | bytes | None = None, fix: str | None = None) -> Result:
        """`run`, raising RemoteError (node, redacted command, status, stderr) on a non-zero exit."""
        result = self.run(node, command, timeout=timeout, stdin=stdin)
        if not result.ok:
            raise RemoteError(node, redact(command), result.status, redact(result.stderr),
                              fix or "read the command's error output on the node and correct the cause")
        return result

    # ------------------------------------------------------------------ files (SFTP)

    @contextlib.contextmanager
    def sftp(self, node: str, timeout: float | None = None) -> Any:
        """An SFTP session on the node's pooled connection; every request bounded by `timeout`."""
        client = self.client(node)
        try:
            session = client.open_sftp()
        except (paramiko.SSHException, EOFError, OSError):
            self.drop(node)  # the connection died: one fresh try
            session = self.client(node).open_sftp()
        session.get_channel().settimeout(self.command_timeout if timeout is None else timeout)
        try:
            yield session
        except TimeoutError:
            raise RemoteTimeout(f"{node}: SFTP request did not finish in time",
                                "check the node's load and disk, then re-run") from None
        finally:
            session.close()

    def put(self, node: str, local: str, remote: str, mode: int | None = None) -> None:
        with self.sftp(node) as s, _sftp_errors(node, remote):
            s.put(local, remote)
            if mode is not None:
                s.chmod(remote, mode)

    def get(self, node: str, remote: str, local: str) -> None:
        with self.sftp(node) as s, _sftp_errors(node, remote):
            s.get(remote, local)

    def sha256(self, node: str, path: str, *, timeout: float | None = None) -> str:
        """The sha256 of a file on the node (`sha256sum`): a copy is compared with it, never trusted."""
        command = f"sha256sum {shlex.quote(path)}"
        out = self.check(node, command, timeout=timeout, fix=f"check that {path} exists on {node}").stdout.split()
        if not out or len(out[0]) != 64:
            raise RemoteError(node, command, 0, f"unexpected output {out[:2]}", "check coreutils on the node")
        return out[0]

    def read_text(self, node: str, path: str) -> str:
        with self.sftp(node) as s, _sftp_errors(node, path), s.open(path, "r") as handle:
            return handle.read().decode()

    def write_text(self, node: str, path: str, text: str, mode: int | None = None) -> None:
        """Write atomically: a temporary file in the same folder, renamed over `path`.

        `mode` defaults to the existing file's mode (0644 for a new file). The existing file's
        owner and group are kept: the temporary file is created as the SSH user (root), and a
        config such as nova.conf (root:nova 0640) must stay readable by its service."""
        folder = posixpath.dirname(path) or "."
        tmp = posixpath.join(folder, f".{posixpath.basename(path)}.octane-{uuid.uuid4().hex[:8]}")
        with self.sftp(node) as s, _sftp_errors(node, path):
            try:
                existing = s.stat(path)
            except FileNotFoundError:
                existing = None
            if mode is None:
                mode = stat.S_IMODE(existing.st_mode or 0o644) if existing else 0o644
            try:
                with s.open(tmp, "w") as handle:
                    handle.write(text.encode())
                    handle.flush()
                if existing is not None and existing.st_uid is not None and existing.st_gid is not None:
                    s.chown(tmp, existing.st_uid, existing.st_gid)
                s.chmod(tmp, mode)
                s.posix_rename(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError, paramiko.SSHException):
                    s.remove(tmp)
                raise

    def edit(self, node: str, path: str, fn: Callable[[str], str], mode: int | None = None) -> bool:
        """Read `path`, apply `fn`, write the result atomically; False when nothing changed."""
        before = self.read_text(node, path)
        after = fn(before)
        if after == before:
            return False
        self.write_text(node, path, after, mode)
        return True

    # ------------------------------------------------------------------ parallel work

    def fan_out(self, nodes: Iterable[str], fn: Callable[[str], T], *,
                max_workers: int = DEFAULT_WORKERS, timeout: float | None = None) -> FanOut[T]:
        """`fn(node)` for every node, at most `max_workers` at once; results and errors per node.

        `timeout` bounds the whole fan-out: nodes still running then get a RemoteTimeout.
        """
        nodes = list(dict.fromkeys(nodes))
        outcome: FanOut[T] = FanOut()
        if not nodes:
            return outcome
        pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(nodes))),
                                  thread_name_prefix="octane-ssh")
        try:
            futures = {pool.submit(fn, node): node for node in nodes}
            done, pending = wait(futures, timeout=timeout)
            for future in done:
                node = futures[future]
                exc = future.exception()
                if exc is None:
                    outcome.results[node] = future.result()
                else:
                    outcome.errors[node] = exc
            for future in pending:
                future.cancel()
                outcome.errors[futures[future]] = RemoteTimeout(
                    f"{futures[future]}: did not finish within {timeout:g} s of the fan-out",
                    "check the node, then re-run for the nodes that did not finish")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return outcome


def local_sha256(path: Path) -> str:
    """The sha256 of a file on the master, for comparing with `SSHPool.sha256` of its copies."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _sftp_errors(node: str, path: str) -> Any:
    try:
        yield
    except FileNotFoundError:
        raise RemoteError(node, f"sftp {path}", 2, f"{path}: no such file",
                          "check the path on the node") from None
    except PermissionError:
        raise RemoteError(node, f"sftp {path}", 13, f"{path}: permission denied",
                          "check the file's owner and mode on the node") from None
    except OSError as exc:
        if isinstance(exc, TimeoutError):
            raise
        raise RemoteError(node, f"sftp {path}", exc.errno or 1, f"{path}: {exc}",
                          "check the path and the node's disk") from None


def _load_key(target: Target) -> paramiko.PKey:
    path = target.ssh.key
    try:
        return paramiko.PKey.from_path(str(path))
    except (OSError, paramiko.SSHException, ValueError) as exc:
        from runbook.errors import ConfigError

        raise ConfigError(f"{target.path}: `ssh.key` {path} cannot be loaded: {exc}",
                          "point ssh.key at an unencrypted private key (ed25519, rsa or ecdsa)") from None
