"""The command registry: `@command("name", ...)` registers an async function.

A command runs only if its binary exists on the node (the shell resolves
argv[0] over PATH in the node's rootfs; see fuellab.install for how packages
lay binaries down), so `mysql` answers on controllers and "command not found"
elsewhere. Builtins of the shell itself (cd, echo, test, export, ...) live in
fuellab.node.shell.

Signature: `async def cmd(ctx: Context, argv: list[str]) -> int`; raise
`CommandError(message, status)` to fail with a message on stderr.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable

from fuellab.node.context import Context

CommandFn = Callable[[Context, list[str]], Awaitable[int]]

REGISTRY: dict[str, CommandFn] = {}


def command(*names: str) -> Callable[[CommandFn], CommandFn]:
    def register(fn: CommandFn) -> CommandFn:
        for name in names:
            REGISTRY[name] = fn
        return fn

    return register


def load_all() -> dict[str, CommandFn]:
    """Import every module of this package so their commands register."""
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    return REGISTRY
