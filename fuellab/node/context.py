"""What a command sees: its node, the lab, stdin, stdout/stderr, environment and cwd.

Commands are small async Python functions registered by name (see
`fuellab.node.commands`). They read and change the node's state through the
world and its files through `ctx.path()`, which maps a path as the node sees it
(mount points included) onto the lab's folders and never escapes the node.
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Node, World


class CommandError(Exception):
    """Raised by a command to end with a message on stderr and a status (default 1)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Context:
    lab: Lab
    node: Node
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/root"
    stdin: bytes | None = b""  # None: not read yet, `stdin_source` supplies it on demand
    stdin_source: Callable[[], Awaitable[bytes]] | None = None
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)

    @property
    def world(self) -> World:
        return self.lab.world

    async def read_stdin(self) -> bytes:
        """All of standard input. Over SSH it is read only when a command asks for it:
        clients such as testinfra never close stdin, so reading it eagerly would hang."""
        if self.stdin is None:
            self.stdin = await self.stdin_source() if self.stdin_source else b""
        return self.stdin

    # ------------------------------------------------------------------ output

    def out(self, text: str | bytes) -> None:
        self.stdout += text.encode() if isinstance(text, str) else text

    def err(self, text: str | bytes) -> None:
        self.stderr += text.encode() if isinstance(text, str) else text

    # ------------------------------------------------------------------ files

    def abspath(self, path: str) -> str:
        """The node-side absolute, normalised path."""
        if path.startswith("~"):
            path = self.env.get("HOME", "/root") + path[1:]
        joined = path if path.startswith("/") else posixpath.join(self.cwd, path)
        return posixpath.normpath(joined).replace("//", "/")

    def path(self, path: str) -> Path:
        """Map a node path onto the lab's folders (mount points first, then the rootfs)."""
        return node_path(self.lab, self.node, self.abspath(path))


def node_path(lab: Lab, node: Node, abspath: str) -> Path:
    """Resolve an absolute node path: the longest matching mount point wins."""
    world = lab.world
    best = ""
    for mountpoint in node.mounts:
        if (abspath == mountpoint or abspath.startswith(mountpoint.rstrip("/") + "/")) and len(
            mountpoint
        ) > len(best):
            best = mountpoint
    if best:
        base = world.node_dir(node) / node.mounts[best]
        rest = abspath[len(best) :].lstrip("/")
    else:
        base = world.rootfs(node)
        rest = abspath.lstrip("/")
    target = base / rest if rest else base
    return target


def node_visible_path(lab: Lab, node: Node, real: Path) -> str | None:
    """The inverse of `node_path`, for listings and error messages."""
    world = lab.world
    for mountpoint, rel in node.mounts.items():
        base = world.node_dir(node) / rel
        if real == base or base in real.parents:
            return posixpath.join(mountpoint, str(real.relative_to(base))).rstrip("/.") or "/"
    root = world.rootfs(node)
    if real == root:
        return "/"
    if root in real.parents:
        return "/" + str(real.relative_to(root))
    return None
