"""pytest-testinfra hosts over the SSH pool's verified connections.

testinfra's own paramiko backend opens its own connection with a
`WarningPolicy` (any host key accepted) and runs commands without a timeout.
`PoolBackend` is that backend with its `client` taken from `SSHPool` (host key
verified against the target's known_hosts, one connection per node) and its
commands run through `SSHPool.exec_raw` (with a timeout). Test ids stay
testinfra's: `paramiko://<address>`.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import paramiko
import testinfra.host
from testinfra.backend.paramiko import ParamikoBackend

from runbook.lib.ssh import SSHPool

DEFAULT_TIMEOUT = 60.0


class PoolBackend(ParamikoBackend):
    """testinfra's paramiko backend on a pooled, verified connection."""

    def __init__(self, pool: SSHPool, node: str, command_timeout: float = DEFAULT_TIMEOUT,
                 **kwargs: Any) -> None:
        self.pool = pool
        self.node = node
        self.command_timeout = command_timeout
        address = pool.address(node)
        super().__init__(f"{pool.target.ssh.user}@{address}", timeout=int(pool.connect_timeout), **kwargs)

    # A property (a data descriptor) overrides the base class's cached_property: testinfra's
    # modules and its reconnect path (`del self.client`) reach the pool, never a new client.
    @property
    def client(self) -> paramiko.SSHClient:  # type: ignore[override]
        return self.pool.client(self.node)

    @client.deleter
    def client(self) -> None:
        self.pool.drop(self.node)

    def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
        return self.pool.exec_raw(self.node, command, timeout=self.command_timeout)


_hosts: weakref.WeakKeyDictionary[SSHPool, dict[str, testinfra.host.Host]] = weakref.WeakKeyDictionary()
_hosts_lock = threading.Lock()


def get_host(pool: SSHPool, node: str, command_timeout: float = DEFAULT_TIMEOUT) -> testinfra.host.Host:
    """The testinfra host of `node` (cached per pool, like testinfra caches its own hosts)."""
    key = f"{pool.address(node)}/{command_timeout}"
    with _hosts_lock:
        per_pool = _hosts.setdefault(pool, {})
        host = per_pool.get(key)
        if host is None:
            backend = PoolBackend(pool, node, command_timeout=command_timeout)
            host = per_pool[key] = testinfra.host.Host(backend)
            backend.set_host(host)
        return host


def get_hosts(pool: SSHPool, nodes: list[str], command_timeout: float = DEFAULT_TIMEOUT) -> list[testinfra.host.Host]:
    return [get_host(pool, node, command_timeout) for node in nodes]
