"""Runs a parsed command line over a node: the shell state, redirections, pipelines,
lists, compound commands and the resolution of commands over the node's PATH.

Pipelines run stage by stage, buffered: the whole stdout of one stage is the stdin
of the next. Each stage runs in a copy of the shell state (a subshell), as in bash.
A command runs only when its binary exists in the node's rootfs; its basename picks
the Python implementation (fuellab.node.commands). Faults injected for a command
name (`fail`, `hang`) take effect right before it would run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fuellab.node.commands import REGISTRY, fsutil, load_all
from fuellab.node.context import CommandError, Context
from fuellab.node.shell import ast
from fuellab.node.shell.expand import ExpansionError, expand_pattern, expand_string, expand_words
from fuellab.node.shell.parser import ShellSyntaxError, parse

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fuellab.lab import Lab
    from fuellab.world import Node

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BINARY_MARK = b"#!fuellab-binary\n"  # see fuellab.install: first line of installed executables
# Commands bash runs itself whatever the node holds; implemented with the binaries of the
# same name in fuellab.node.commands.
SIMPLE_BUILTINS = ("echo", "printf", "test", "[", "true", "false", "pwd")


@dataclass
class Result:
    status: int
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)


class ShellExit(Exception):
    """`exit`, `set -e` or a fatal expansion error: ends the (sub)shell with a status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ReturnSignal(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class LoopControl(Exception):
    def __init__(self, kind: str, levels: int) -> None:
        super().__init__(kind)
        self.kind = kind
        self.levels = levels


# --------------------------------------------------------------------------- I/O


class InputStream:
    """Standard input with a read position: read lazily from the client on first use."""

    def __init__(self, data: bytes | None = b"", source: Callable[[], Awaitable[bytes]] | None = None):
        self.data = data
        self.source = source
        self.pos = 0

    async def _load(self) -> bytes:
        if self.data is None:
            self.data = await self.source() if self.source else b""
        return self.data

    async def read_all(self) -> bytes:
        data = await self._load()
        rest = data[self.pos :]
        self.pos = len(data)
        return rest

    async def read_line(self) -> bytes | None:
        data = await self._load()
        if self.pos >= len(data):
            return None
        end = data.find(b"\n", self.pos)
        end = len(data) if end < 0 else end + 1
        line = data[self.pos : end]
        self.pos = end
        return line


Fd = InputStream | bytearray


@dataclass
class IO:
    fds: dict[int, Fd]

    @property
    def stdin(self) -> InputStream:
        fd = self.fds.get(0)
        return fd if isinstance(fd, InputStream) else InputStream(b"")

    @property
    def out(self) -> bytearray:
        fd = self.fds.get(1)
        return fd if isinstance(fd, bytearray) else bytearray()

    @property
    def err(self) -> bytearray:
        fd = self.fds.get(2)
        return fd if isinstance(fd, bytearray) else bytearray()

    def replace(self, **fds: Fd) -> IO:
        new = dict(self.fds)
        for key, value in fds.items():
            new[int(key.lstrip("fd"))] = value
        return IO(new)


@dataclass
class _PendingWrite:
    buffer: bytearray
    path: Any  # pathlib.Path of the target in the lab folders


class RedirectError(Exception):
    pass


# --------------------------------------------------------------------------- the shell


class Shell:
    def __init__(self, lab: Lab, node: Node, env: dict[str, str] | None = None, cwd: str = "/root",
                 name: str = "bash", dialect: str = "bash") -> None:
        self.lab = lab
        self.node = node
        self.vars: dict[str, str] = dict(env or {})
        self.exported: set[str] = set(self.vars)
        self.cwd = cwd
        self.name = name  # $0, and the prefix of the shell's own error messages
        self.dialect = dialect  # "bash", or "sh" (dash): no bash extensions, dash's messages
        self.positional: list[str] = []
        self.status = 0
        self.options = {"errexit": False, "pipefail": False, "nounset": False, "xtrace": False,
                        "noglob": False, "noclobber": False}
        self.functions: dict[str, ast.Command] = {}
        self.jobs: list[asyncio.Task[int]] = []
        self.last_job_pid = ""
        self.traps: dict[str, str] = {}
        self.cond_depth = 0  # inside an if/while condition or the left of && ||: no errexit
        self.loop_depth = 0
        self.local_frames: list[dict[str, str | None]] = []
        self.current_io: IO = IO({})  # the I/O of the builtin running now
        self.last_subst_status: int | None = None
        self.line = 1
        self.pid = 1000 + (hash((node.hostname, id(self))) % 30000)

    # ------------------------------------------------------------------ state

    def fork(self) -> Shell:
        """A subshell: a copy of the state whose changes do not come back."""
        sub = Shell.__new__(Shell)
        sub.__dict__.update(self.__dict__)
        sub.vars = dict(self.vars)
        sub.exported = set(self.exported)
        sub.options = dict(self.options)
        sub.functions = dict(self.functions)
        sub.positional = list(self.positional)
        sub.traps = {}
        sub.jobs = []
        sub.local_frames = [dict(f) for f in self.local_frames]
        return sub

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in self.vars.items() if k in self.exported}
        if "PWD" in env:
            env["PWD"] = self.cwd
        if extra:
            env.update(extra)
        return env

    def set_var(self, name: str, value: str) -> None:
        self.vars[name] = value

    def get_param(self, name: str) -> str | None:
        if name == "?":
            return str(self.status)
        if name == "$":
            return str(self.pid)
        if name == "#":
            return str(len(self.positional))
        if name == "0":
            return self.name
        if name.isdigit():
            index = int(name)
            return self.positional[index - 1] if index <= len(self.positional) else None
        if name in ("@", "*"):
            sep = self.vars.get("IFS", " ")[:1] if name == "*" else " "
            return sep.join(self.positional)
        if name == "!":
            return self.last_job_pid
        if name == "-":
            flags = {"errexit": "e", "nounset": "u", "xtrace": "x", "noglob": "f", "noclobber": "C"}
            return "h" + "".join(f for opt, f in flags.items() if self.options[opt]) + "B"
        if name == "PWD":
            return self.cwd
        value = self.vars.get(name)
        if value is None and self.dialect == "bash":
            value = self._bash_variable(name)
        return value

    def _bash_variable(self, name: str) -> str | None:
        """Variables bash sets itself (dash has none of them)."""
        if name == "RANDOM":
            return str(random.randrange(32768))
        if name in ("UID", "EUID"):
            return "0"
        if name == "HOSTNAME":
            return self.node.hostname
        if name == "BASH_VERSION":
            return "4.3.11(1)-release"
        if name == "PPID":
            return str(self.pid - 1)
        return None

    def abspath(self, path: str) -> str:
        joined = path if path.startswith("/") else posixpath.join(self.cwd, path)
        return posixpath.normpath(joined).replace("//", "/")

    def fs_context(self) -> Context:
        return Context(self.lab, self.node, env=self.environ(), cwd=self.cwd)

    def error(self, io: IO, message: str) -> None:
        prefix = f"{self.name}: {self.line}: " if self.dialect == "sh" else f"{self.name}: "
        io.err.extend(f"{prefix}{message}\n".encode())

    # ------------------------------------------------------------------ entry points

    async def run_script(self, source: str, io: IO) -> int:
        """Parse and run a whole script; `exit` and errors end it with their status."""
        try:
            program = parse(source)
        except ShellSyntaxError as exc:
            where = "-c: " if self.dialect == "bash" else ""
            io.err.extend(f"{self.name}: {where}line {exc.line}: {exc}\n".encode())
            return 2
        return await self.run_program(program, io)

    async def run_program(self, program: ast.ListNode, io: IO) -> int:
        try:
            try:
                self.status = await self.run_list(program, io)
            except ShellExit as exc:
                self.status = exc.status
            except (ReturnSignal, LoopControl) as exc:
                self.status = getattr(exc, "status", 0)
            await self.run_exit_trap(io)
            await self.wait_jobs()
        finally:
            for job in self.jobs:
                job.cancel()
        return self.status

    async def run_exit_trap(self, io: IO) -> None:
        action = self.traps.pop("EXIT", None)
        if action:
            status = self.status
            with contextlib.suppress(ShellExit, ShellSyntaxError, ReturnSignal, LoopControl):
                await self.run_list(parse(action), io)
            self.status = status

    async def wait_jobs(self) -> int:
        status = 0
        while self.jobs:
            job = self.jobs.pop(0)
            status = await job
        return status

    async def substitute(self, body: ast.ListNode, io: IO) -> str:
        """`$(...)`: run in a subshell, capture stdout, drop trailing newlines."""
        out = bytearray()
        sub = self.fork()
        status = await sub.run_program(body, io.replace(fd1=out))
        self.status = status
        self.last_subst_status = status
        return out.decode(errors="replace").rstrip("\n")

    # ------------------------------------------------------------------ lists

    async def run_list(self, node: ast.ListNode, io: IO) -> int:
        status = self.status
        for andor, background in node.items:
            if background:
                sub = self.fork()
                job_io = io.replace(fd0=InputStream(b""))
                job = asyncio.ensure_future(sub.run_program(ast.ListNode([(andor, False)]), job_io))
                self.jobs.append(job)
                self.last_job_pid = str(self.pid + len(self.jobs))
                status = 0
            else:
                status = await self.run_and_or(andor, io)
            self.status = status
        return status

    async def run_and_or(self, node: ast.AndOr, io: IO) -> int:
        steps = [("", node.first), *node.rest]
        status = 0
        last_run: ast.Pipeline | None = None
        last_index = -1
        for index, (op, pipeline) in enumerate(steps):
            if op == "&&" and status != 0 or op == "||" and status == 0:
                continue
            final = index == len(steps) - 1
            if not final:
                self.cond_depth += 1
            try:
                status = await self.run_pipeline(pipeline, io)
            finally:
                if not final:
                    self.cond_depth -= 1
            self.status = status
            last_run, last_index = pipeline, index
        if (status != 0 and self.options["errexit"] and self.cond_depth == 0
                and last_index == len(steps) - 1 and last_run is not None and not last_run.negate):
            raise ShellExit(status)
        return status

    async def run_pipeline(self, node: ast.Pipeline, io: IO) -> int:
        if node.negate:
            self.cond_depth += 1
        try:
            if len(node.commands) == 1:
                status = await self.run_command(node.commands[0], io)
            else:
                status = await self._run_stages(node.commands, io)
        finally:
            if node.negate:
                self.cond_depth -= 1
        return int(status == 0) if node.negate else status

    async def _run_stages(self, commands: list[ast.Command], io: IO) -> int:
        stdin: InputStream = io.stdin
        statuses = []
        for index, command in enumerate(commands):
            last = index == len(commands) - 1
            out = io.out if last else bytearray()
            sub = self.fork()
            try:
                status = await sub.run_command(command, io.replace(fd0=stdin, fd1=out))
                await sub.wait_jobs()
            except ShellExit as exc:
                status = exc.status
            except (ReturnSignal, LoopControl) as exc:
                status = getattr(exc, "status", 0)
            statuses.append(status)
            stdin = InputStream(bytes(out))
        if self.options["pipefail"]:
            return next((s for s in reversed(statuses) if s != 0), 0)
        return statuses[-1]

    # ------------------------------------------------------------------ commands

    async def run_command(self, node: ast.Command, io: IO) -> int:
        if isinstance(node, ast.Simple):
            return await self.run_simple(node, io)
        if isinstance(node, ast.FunctionDef):
            self.functions[node.name] = node.body
            return 0
        try:
            redirected, pending = await self.redirect(node.redirects, io)
        except RedirectError as exc:
            self.error(io, str(exc))
            return 1
        try:
            return await self._run_compound(node, redirected)
        finally:
            _flush(pending)

    async def _run_compound(self, node: ast.Command, io: IO) -> int:
        if isinstance(node, ast.Group):
            if not node.subshell:
                return await self.run_list(node.body, io)
            sub = self.fork()
            try:
                status = await sub.run_list(node.body, io)
            except ShellExit as exc:
                status = exc.status
            await sub.run_exit_trap(io)
            await sub.wait_jobs()
            return status
        if isinstance(node, ast.If):
            for cond, body in node.clauses:
                if await self._condition(cond, io) == 0:
                    return await self.run_list(body, io)
            return await self.run_list(node.orelse, io) if node.orelse else 0
        if isinstance(node, ast.Loop):
            return await self._run_loop(node, io)
        if isinstance(node, ast.For):
            if node.words is None:
                values = list(self.positional)
            else:
                values = await expand_words(self, node.words, io)
            return await self._run_for(node, values, io)
        if isinstance(node, ast.Case):
            subject = await expand_string(self, node.word, io)
            for patterns, body in node.items:
                for pattern in patterns:
                    if (await expand_pattern(self, pattern, io)).fullmatch(subject):
                        return await self.run_list(body, io)
            return 0
        raise TypeError(f"unknown command node {node!r}")

    async def _condition(self, cond: ast.ListNode, io: IO) -> int:
        self.cond_depth += 1
        try:
            return await self.run_list(cond, io)
        finally:
            self.cond_depth -= 1

    async def _run_loop(self, node: ast.Loop, io: IO) -> int:
        status = 0
        self.loop_depth += 1
        try:
            while True:
                ok = await self._condition(node.cond, io) == 0
                if ok == node.until:
                    break
                try:
                    status = await self.run_list(node.body, io)
                except LoopControl as ctl:
                    if ctl.levels > 1:
                        raise LoopControl(ctl.kind, ctl.levels - 1) from None
                    if ctl.kind == "break":
                        break
        finally:
            self.loop_depth -= 1
        return status

    async def _run_for(self, node: ast.For, values: list[str], io: IO) -> int:
        status = 0
        self.loop_depth += 1
        try:
            for value in values:
                self.vars[node.var] = value
                try:
                    status = await self.run_list(node.body, io)
                except LoopControl as ctl:
                    if ctl.levels > 1:
                        raise LoopControl(ctl.kind, ctl.levels - 1) from None
                    if ctl.kind == "break":
                        break
        finally:
            self.loop_depth -= 1
        return status

    async def run_simple(self, node: ast.Simple, io: IO) -> int:
        self.line = node.line
        self.last_subst_status = None
        try:
            argv = await expand_words(self, node.words, io)
            assigns = {name: await expand_string(self, value, io) for name, value in node.assigns}
        except ExpansionError as exc:
            self.error(io, str(exc))
            raise ShellExit(exc.status) from None
        if self.options["xtrace"]:
            shown = [f"{k}={v}" for k, v in assigns.items()] + argv
            io.err.extend(("+ " + " ".join(shown) + "\n").encode())
        try:
            redirected, pending = await self.redirect(node.redirects, io)
        except RedirectError as exc:
            self.error(io, str(exc))
            return 1
        try:
            if not argv:
                for name, value in assigns.items():
                    self.vars[name] = value
                return self.last_subst_status or 0
            return await self.invoke(argv, assigns, redirected)
        finally:
            _flush(pending)

    async def invoke(self, argv: list[str], assigns: dict[str, str], io: IO,
                     functions: bool = True) -> int:
        """Run argv: a function, a builtin, or a binary of the node."""
        from fuellab.node.shell.builtins import BUILTINS

        name = argv[0]
        if functions and name in self.functions:
            return await self._call_function(name, argv, assigns, io)
        builtin = BUILTINS.get(name)
        if builtin is not None:
            self.current_io = io
            ctx = self._context(io, assigns)
            return await _guard(ctx, name, builtin(self, ctx, argv))
        if name in SIMPLE_BUILTINS:
            _load_commands()
            ctx = self._context(io, assigns)
            return await _guard(ctx, name, REGISTRY[name](ctx, argv))
        return await self.run_binary(argv, assigns, io)

    async def _call_function(self, name: str, argv: list[str], assigns: dict[str, str], io: IO) -> int:
        saved = self.positional
        saved_vars = {k: self.vars.get(k) for k in assigns}
        self.positional = argv[1:]
        self.vars.update(assigns)
        self.local_frames.append({})
        try:
            return await self.run_command(self.functions[name], io)
        except ReturnSignal as ret:
            return ret.status
        finally:
            self.positional = saved
            saved_vars = {**self.local_frames.pop(), **saved_vars}
            for key, value in saved_vars.items():
                if value is None:
                    self.vars.pop(key, None)
                else:
                    self.vars[key] = value

    def _context(self, io: IO, assigns: dict[str, str]) -> Context:
        stdin = io.stdin
        return Context(self.lab, self.node, env=self.environ(assigns), cwd=self.cwd, stdin=None,
                       stdin_source=stdin.read_all, stdout=io.out, stderr=io.err)

    def lookup(self, name: str) -> str | None:
        """The node path of the executable `name` (PATH search for a bare name)."""
        ctx = self.fs_context()
        if "/" in name:
            abspath = self.abspath(name)
            return abspath if ctx.path(abspath).exists() else None
        for folder in self.vars.get("PATH", DEFAULT_PATH).split(":"):
            candidate = posixpath.join(self.abspath(folder or "."), name)
            real = ctx.path(candidate)
            if real.is_file() and os.access(real, os.X_OK):
                return candidate
        return None

    async def run_binary(self, argv: list[str], assigns: dict[str, str], io: IO) -> int:
        name = argv[0]
        path = self.lookup(name)
        if path is None:
            if "/" in name:
                self.error(io, f"{name}: No such file or directory")
            elif self.dialect == "sh":
                self.error(io, f"{name}: not found")
            else:
                self.error(io, f"{name}: command not found")
            return 127
        real = self.fs_context().path(path)
        if real.is_dir():
            self.error(io, f"{name}: Is a directory")
            return 126
        if not os.access(real, os.X_OK):
            self.error(io, f"{name}: Permission denied")
            return 126
        base = posixpath.basename(path)
        ctx = self._context(io, assigns)
        # A fault names the command (`ceph-mon`) or a glob of its whole line (`ceph-mon *--inject-monmap*`).
        line = " ".join([base, *argv[1:]])
        fault = self.lab.faults.take(self.node.hostname, base, "fail") or \
            self.lab.faults.take(self.node.hostname, line, "fail")
        if fault is not None:
            ctx.err(f"{fault.message}\n")
            return 1
        if self.lab.faults.take(self.node.hostname, base, "hang") is not None or \
                self.lab.faults.take(self.node.hostname, line, "hang") is not None:
            await asyncio.Event().wait()  # until the client gives up and the server cancels us
        with open(real, "rb") as handle:
            head = handle.read(128)
        _load_commands()
        fn = REGISTRY.get(base)
        dialect = _script_dialect(head) if not head.startswith(BINARY_MARK) else None
        if dialect is not None:
            return await self.run_file_script(path, argv, ctx, io, dialect)
        if fn is None:
            ctx.err(f"fuellab: {base} is installed but not simulated\n")
            return 1
        return await _guard(ctx, base, fn(ctx, argv))

    async def run_file_script(self, path: str, argv: list[str], ctx: Context, io: IO,
                              dialect: str) -> int:
        """A shell script on the node (`#!/bin/sh`): run by a new shell with its arguments."""
        source = fsutil.read_bytes(ctx, path, argv[0]).decode(errors="replace")
        sub = Shell(self.lab, self.node, ctx.env, cwd=self.cwd, name=path, dialect=dialect)
        sub.positional = argv[1:]
        return await sub.run_script(source, io)

    # ------------------------------------------------------------------ redirections

    async def redirect(self, redirects: list[ast.Redirect], io: IO) -> tuple[IO, list[_PendingWrite]]:
        if not redirects:
            return io, []
        fds = dict(io.fds)
        pending: list[_PendingWrite] = []
        ctx = self.fs_context()
        for r in redirects:
            if r.op in ("<<", "<<-", "<<<"):
                text = await expand_string(self, r.target, io)
                if r.op == "<<<":
                    text += "\n"
                fds[r.fd] = InputStream(text.encode())
                continue
            try:
                target = await expand_string(self, r.target, io)
            except ExpansionError as exc:
                raise RedirectError(str(exc)) from None
            if r.op in (">&", "<&"):
                if target == "-":
                    fds.pop(r.fd, None)
                    continue
                if target.isdigit():
                    source_fd = int(target)
                    if source_fd not in fds:
                        raise RedirectError(f"{target}: Bad file descriptor")
                    fds[r.fd] = fds[source_fd]
                    continue
                if r.op == ">&" and r.fd == 1:  # `>& file`: stdout and stderr
                    buffer = self._open_output(ctx, target, False, pending, fds)
                    fds[1] = fds[2] = buffer
                    continue
                raise RedirectError(f"{target}: ambiguous redirect")
            if r.op in ("<", "<>"):
                fds[r.fd] = self._open_input(ctx, target, fds)
                continue
            append = r.op in (">>", "&>>")
            buffer = self._open_output(ctx, target, append, pending, fds)
            if r.fd == -1:
                fds[1] = fds[2] = buffer
            else:
                fds[r.fd] = buffer
        return IO(fds), pending

    def _open_input(self, ctx: Context, target: str, fds: dict[int, Fd]) -> InputStream:
        abspath = self.abspath(target)
        if abspath in ("/dev/null", "/dev/zero"):
            return InputStream(b"")
        if abspath == "/dev/stdin":
            current = fds.get(0)
            return current if isinstance(current, InputStream) else InputStream(b"")
        real = ctx.path(abspath)
        try:
            if real.is_dir():
                raise RedirectError(f"{target}: Is a directory")
            return InputStream(real.read_bytes())
        except OSError as exc:
            raise RedirectError(f"{target}: {fsutil.strerror(exc)}") from None

    def _open_output(self, ctx: Context, target: str, append: bool, pending: list[_PendingWrite],
                     fds: dict[int, Fd]) -> bytearray:
        abspath = self.abspath(target)
        if abspath in ("/dev/null", "/dev/zero"):
            return bytearray()  # written, then dropped
        for device, fd in (("/dev/stdout", 1), ("/dev/stderr", 2)):
            if abspath == device:
                current = fds.get(fd)
                return current if isinstance(current, bytearray) else bytearray()
        real = ctx.path(abspath)
        if real.is_dir() or (not real.exists() and fsutil.is_mount_ancestor(ctx, abspath)):
            raise RedirectError(f"{target}: Is a directory")
        try:
            # The file is created (and truncated) when the redirection is made, as sh does,
            # so `cat f > f` empties f; output lands when the command ends.
            with open(real, "ab" if append else "wb"):
                pass
        except OSError as exc:
            raise RedirectError(f"{target}: {fsutil.strerror(exc)}") from None
        for existing in pending:
            if existing.path == real:
                return existing.buffer
        buffer = bytearray()
        pending.append(_PendingWrite(buffer, real))
        return buffer


_COMMANDS_LOADED: list[bool] = []


def _load_commands() -> None:
    """Import the command modules once (they register themselves)."""
    if not _COMMANDS_LOADED:
        load_all()
        _COMMANDS_LOADED.append(True)


def _flush(pending: list[_PendingWrite]) -> None:
    for write in pending:
        try:
            with open(write.path, "ab") as handle:
                handle.write(write.buffer)
        except OSError:
            pass  # the file went away while the command ran, as a deleted open file would


def _script_dialect(head: bytes) -> str | None:
    """"sh" or "bash" for a `#!` script the lab shell can run, None otherwise."""
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
    if words and posixpath.basename(words[0]) == "env" and len(words) > 1:
        words = words[1:]  # `#!/usr/bin/env bash`
    interpreter = posixpath.basename(words[0]) if words else ""
    return {"sh": "sh", "dash": "sh", "bash": "bash"}.get(interpreter)


async def _guard(ctx: Context, name: str, coro: Awaitable[int | None]) -> int:
    """Run a command body: CommandError and file errors become stderr text and a status."""
    try:
        status = await coro
    except CommandError as exc:
        message = str(exc)
        if message:
            ctx.err(message if message.endswith("\n") else message + "\n")
        return exc.status
    except OSError as exc:
        shown = fsutil.visible(ctx, _as_path(exc.filename)) if exc.filename else None
        ctx.err(f"{name}: {shown + ': ' if shown else ''}{fsutil.strerror(exc)}\n")
        return 1
    return 0 if status is None else int(status)


def _as_path(filename: Any) -> Any:
    from pathlib import Path

    return Path(os.fsdecode(filename))


# --------------------------------------------------------------------------- public entry


def default_env(env: dict[str, str] | None = None) -> dict[str, str]:
    base = {
        "HOME": "/root",
        "USER": "root",
        "LOGNAME": "root",
        "PATH": DEFAULT_PATH,
        "SHELL": "/bin/bash",
        "PWD": "/root",
        "LANG": "C",
    }
    base.update(env or {})
    return base


async def execute(lab: Lab, node: Node, script: str,
                  stdin_source: Callable[[], Awaitable[bytes]] | None = None,
                  env: dict[str, str] | None = None) -> Result:
    """Run `script` as root's login shell (bash) on the node would, from /root."""
    _load_commands()
    shell = Shell(lab, node, default_env(env))
    result = Result(0)
    io = IO({0: InputStream(None, stdin_source), 1: result.stdout, 2: result.stderr})
    result.status = await shell.run_script(script, io)
    return result


async def run_in_context(ctx: Context, source: str, args: list[str], name: str = "bash",
                         options: dict[str, bool] | None = None) -> int:
    """`sh -c` / `bash -c` / a script: a new shell over a command's context."""
    shell = Shell(ctx.lab, ctx.node, dict(ctx.env), cwd=ctx.cwd, name=args[0] if args else name,
                  dialect="sh" if name == "sh" else "bash")
    shell.positional = args[1:]
    if options:
        shell.options.update(options)
    stdin = InputStream(ctx.stdin, ctx.stdin_source)
    io = IO({0: stdin, 1: ctx.stdout, 2: ctx.stderr})
    return await shell.run_script(source, io)


async def run_argv(ctx: Context, argv: list[str], env: dict[str, str], prog: str) -> int:
    """Run a binary of the node from another command (`env X=1 cmd`), as exec would:
    no builtins, no functions. 127 when absent, as coreutils' env answers."""
    shell = Shell(ctx.lab, ctx.node, env, cwd=ctx.cwd, name=prog, dialect="sh")
    io = IO({0: InputStream(ctx.stdin, ctx.stdin_source), 1: ctx.stdout, 2: ctx.stderr})
    if shell.lookup(argv[0]) is None:
        ctx.err(f"{prog}: {argv[0]}: No such file or directory\n")
        return 127
    return await shell.run_binary(argv, {}, io)
