"""The nodes' SSH servers: one asyncssh listener per node admin address, in one event loop.

- Key authentication against `/root/.ssh/authorized_keys` in the node's rootfs,
  which provisioning fills with the master's key.
- A connection is accepted only while the node's admin address is live (node
  online, eth0 up) and no `ssh-drop` fault is set for it.
- exec requests run through the lab shell; SFTP and SCP see the node's
  filesystem (rootfs plus mounted data volumes), never the lab's own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncssh

from fuellab.node.context import node_path, node_visible_path

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Node

log = logging.getLogger("fuellab.ssh")


def node_reachable(lab: Lab, node: Node) -> bool:
    eth0 = node.interface("eth0")
    return node.online and eth0 is not None and eth0.up


def _authorized(lab: Lab, node: Node, key: asyncssh.SSHKey) -> bool:
    path = lab.world.rootfs(node) / "root/.ssh/authorized_keys"
    try:
        authorized = asyncssh.import_authorized_keys(path.read_text())
    except (OSError, asyncssh.KeyImportError, ValueError):
        return False
    return authorized.validate(key, "", "") is not None


class NodeSSHServer(asyncssh.SSHServer):
    def __init__(self, lab: Lab, node_id: int, connections: set[asyncssh.SSHServerConnection]) -> None:
        self.lab = lab
        self.node_id = node_id
        self.connections = connections
        self.conn: asyncssh.SSHServerConnection | None = None

    @property
    def node(self) -> Node:
        return self.lab.world.nodes[self.node_id]

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        sock = conn.get_extra_info("socket")
        if sock is not None:
            # Nagle plus delayed ACK costs a paramiko client ~40 ms twice per handshake.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not node_reachable(self.lab, self.node) or self.lab.faults.take(
            self.node.hostname, "ssh", "ssh-drop"
        ):
            conn.abort()
            return
        self.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.connections.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == "root" and _authorized(self.lab, self.node, key)


class NodeSFTPServer(asyncssh.SFTPServer):
    """SFTP over the node's filesystem as the node sees it (mount points included)."""

    def __init__(self, chan: asyncssh.SSHServerChannel, lab: Lab, node_id: int) -> None:
        self.lab = lab
        self.node_id = node_id
        super().__init__(chan)

    @property
    def node(self) -> Node:
        return self.lab.world.nodes[self.node_id]

    def map_path(self, path: bytes) -> bytes:
        text = os.fsdecode(path) or "/"
        if not text.startswith("/"):
            text = "/root/" + text
        text = os.path.normpath(text)
        return os.fsencode(node_path(self.lab, self.node, text))

    def reverse_map_path(self, path: bytes) -> bytes:
        visible = node_visible_path(self.lab, self.node, Path(os.fsdecode(path)))
        if visible is None:
            raise asyncssh.SFTPNoSuchFile("path outside of the node")
        return os.fsencode(visible)


class SSHServers:
    """Starts and stops the listeners of all nodes."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.acceptors: dict[int, Any] = {}
        self.connections: dict[int, set[asyncssh.SSHServerConnection]] = {}

    async def start(self) -> None:
        await asyncio.gather(*(self.start_node(n) for n in self.lab.world.nodes.values()))

    async def start_node(self, node: Node) -> None:
        from fuellab import keys

        lab = self.lab
        node_id = node.id
        conns = self.connections.setdefault(node_id, set())
        host_key = keys.ensure_key(lab.host_key_path(node), f"root@{node.hostname}")
        self.acceptors[node_id] = await asyncssh.create_server(
            lambda: NodeSSHServer(lab, node_id, conns),
            node.admin_ip,
            lab.settings.ssh_port,
            server_host_keys=[host_key],
            process_factory=lambda proc: _run_process(lab, node_id, proc),
            sftp_factory=lambda chan: NodeSFTPServer(chan, lab, node_id),
            allow_scp=True,
            encoding=None,
            reuse_address=True,
            keepalive_interval=0,
            login_timeout=30,
        )

    def drop(self, node: Node) -> None:
        """Cut every open connection to the node (reboot, ssh-drop fault)."""
        for conn in list(self.connections.get(node.id, ())):
            conn.abort()

    async def stop(self) -> None:
        for node_id, acceptor in self.acceptors.items():
            acceptor.close()
            for conn in list(self.connections.get(node_id, ())):
                conn.abort()
        await asyncio.gather(*(a.wait_closed() for a in self.acceptors.values()), return_exceptions=True)
        self.acceptors.clear()


async def _run_process(lab: Lab, node_id: int, process: asyncssh.SSHServerProcess) -> None:
    from fuellab.node import shell

    node = lab.world.nodes[node_id]
    command = process.command
    if command is None:
        process.stderr.write(b"fuellab: interactive shells are not served; run a command\n")
        process.exit(1)
        return
    if not node_reachable(lab, node) or lab.faults.take(node.hostname, "ssh", "ssh-drop"):
        process.channel.get_connection().abort()
        return

    async def read_stdin() -> bytes:
        try:
            return await process.stdin.read()
        except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
            return b""

    env = {k: v for k, v in (process.env or {}).items()} if process.env else {}
    # asyncssh does not cancel a session's handler when the client goes away: race the
    # command against the channel closing, so a hung command (`hang` fault, a read of a
    # stdin that never ends) is cancelled instead of living on in the lab.
    run = asyncio.ensure_future(shell.execute(lab, node, command, stdin_source=read_stdin, env=env))
    closed = asyncio.ensure_future(process.channel.wait_closed())
    try:
        await asyncio.wait({run, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closed.cancel()
        if not run.done():
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
    if run.cancelled():
        return
    try:
        result = run.result()
    except (asyncssh.Error, ConnectionError):
        return
    except Exception:  # a lab bug must not kill the server; the client sees it on stderr
        # Only the command's name: its arguments may carry a password (mysql -p...).
        log.exception("command %s failed on %s", command.split(None, 1)[0] if command.strip() else "", node.hostname)
        process.stderr.write(b"fuellab: internal error running the command\n")
        process.exit(70)
        return
    try:
        if result.stdout:
            process.stdout.write(bytes(result.stdout))
        if result.stderr:
            process.stderr.write(bytes(result.stderr))
        process.exit(result.status)
    except (BrokenPipeError, ConnectionError, asyncssh.Error):
        pass
