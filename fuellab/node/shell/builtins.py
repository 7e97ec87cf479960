"""Builtins that act on the shell itself: cd, export, set, exit, command, type, read ...

Each takes the shell, a Context for its output and the argv. Builtins that only
print (echo, printf, test, true, false, pwd) are the commands of the same name
in fuellab.node.commands; the shell runs them without a PATH lookup.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable

from fuellab.node.commands import fsutil
from fuellab.node.context import CommandError, Context
from fuellab.node.shell.parser import NAME_RE, RESERVED, ShellSyntaxError, parse

# Imported lazily by the interpreter, which this module needs at run time only.
from fuellab.node.shell import interpreter as _interp  # noqa: E402  isort: skip

Builtin = Callable[["_interp.Shell", Context, list[str]], Awaitable[int]]
BUILTINS: dict[str, Builtin] = {}

OPTION_FLAGS = {"e": "errexit", "u": "nounset", "x": "xtrace", "f": "noglob", "C": "noclobber"}
LONG_OPTIONS = {"errexit", "nounset", "xtrace", "noglob", "noclobber", "pipefail"}


def builtin(*names: str) -> Callable[[Builtin], Builtin]:
    def register(fn: Builtin) -> Builtin:
        for name in names:
            BUILTINS[name] = fn
        return fn

    return register


@builtin(":")
async def colon(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    return 0


@builtin("cd")
async def cd(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    args = [a for a in argv[1:] if a not in ("-L", "-P")]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        target = sh.vars.get("HOME", "/root")
    elif args[0] == "-":
        target = sh.vars.get("OLDPWD", sh.cwd)
        ctx.out(target + "\n")
    else:
        target = args[0]
    abspath = sh.abspath(target)
    if not fsutil.exists(ctx, abspath):
        raise CommandError(f"{sh.name}: cd: {target}: No such file or directory")
    if not fsutil.is_dir(ctx, abspath):
        raise CommandError(f"{sh.name}: cd: {target}: Not a directory")
    sh.vars["OLDPWD"] = sh.cwd
    sh.cwd = abspath
    sh.vars["PWD"] = abspath
    return 0


@builtin("export", "readonly")
async def export(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    unexport = False
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag == "--":
            break
        unexport = unexport or "n" in flag
    if not args:
        for name in sorted(sh.exported):
            if name in sh.vars:
                value = sh.vars[name].replace("\\", "\\\\").replace('"', '\\"')
                ctx.out(f'declare -x {name}="{value}"\n')
        return 0
    status = 0
    for arg in args:
        name, eq, value = arg.partition("=")
        if not NAME_RE.fullmatch(name):
            ctx.err(f"{sh.name}: {argv[0]}: `{arg}': not a valid identifier\n")
            status = 1
            continue
        if eq:
            sh.vars[name] = value
        if argv[0] == "export":
            if unexport:
                sh.exported.discard(name)
            else:
                sh.exported.add(name)
    return status


@builtin("unset")
async def unset(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    functions = False
    for arg in argv[1:]:
        if arg == "-f":
            functions = True
        elif arg == "-v":
            functions = False
        elif functions:
            sh.functions.pop(arg, None)
        else:
            sh.vars.pop(arg, None)
            sh.exported.discard(arg)
    return 0


@builtin("local")
async def local(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    frame = sh.local_frames[-1] if sh.local_frames else None
    if frame is None:
        raise CommandError(f"{sh.name}: local: can only be used in a function")
    for arg in argv[1:]:
        name, eq, value = arg.partition("=")
        if name not in frame:
            frame[name] = sh.vars.get(name)
        if eq:
            sh.vars[name] = value
        else:
            sh.vars.setdefault(name, "")
    return 0


@builtin("set")
async def set_(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    if not args:
        for name in sorted(sh.vars):
            ctx.out(f"{name}={shlex.quote(sh.vars[name])}\n")
        return 0
    while args:
        arg = args[0]
        if arg == "--":
            sh.positional = args[1:]
            return 0
        if arg in ("-o", "+o") and len(args) == 1:
            for name in sorted(sh.options):
                ctx.out(f"{name:<15}\t{'on' if sh.options[name] else 'off'}\n")
            return 0
        if not arg or arg[0] not in "-+" or arg in ("-", "+"):
            sh.positional = args
            return 0
        args.pop(0)
        enable = arg[0] == "-"
        for flag in arg[1:]:
            if flag == "o":
                if not args:
                    raise CommandError(f"{sh.name}: set: -o: option requires an argument", 2)
                name = args.pop(0)
                if name not in LONG_OPTIONS:
                    raise CommandError(f"{sh.name}: set: {name}: invalid option name", 2)
                sh.options[name] = enable
            elif flag in OPTION_FLAGS:
                sh.options[OPTION_FLAGS[flag]] = enable
            elif flag in "hBbmvHkPTEnai":
                continue  # accepted: no effect in a non-interactive lab shell
            else:
                raise CommandError(f"{sh.name}: set: {arg[0]}{flag}: invalid option", 2)
    return 0


@builtin("shift")
async def shift(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    count = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 1
    if count > len(sh.positional):
        return 1
    sh.positional = sh.positional[count:]
    return 0


def _status_arg(sh: _interp.Shell, argv: list[str]) -> int:
    if len(argv) < 2:
        return sh.status
    try:
        return int(argv[1]) & 0xFF
    except ValueError:
        raise CommandError(f"{sh.name}: {argv[0]}: {argv[1]}: numeric argument required", 2) from None


@builtin("exit")
async def exit_(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    raise _interp.ShellExit(_status_arg(sh, argv))


@builtin("return")
async def return_(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    raise _interp.ReturnSignal(_status_arg(sh, argv))


@builtin("break", "continue")
async def loop_control(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    if sh.loop_depth == 0:
        ctx.err(f"{sh.name}: {argv[0]}: only meaningful in a `for', `while', or `until' loop\n")
        return 0
    levels = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 1
    raise _interp.LoopControl(argv[0], min(max(levels, 1), sh.loop_depth))


def _describe(sh: _interp.Shell, name: str) -> tuple[str, str] | None:
    """(kind, path-or-name) of a command name, as `type` and `command -v` see it."""
    if name in sh.functions:
        return "function", name
    if name in RESERVED:
        return "keyword", name
    if name in BUILTINS or name in _interp.SIMPLE_BUILTINS:
        return "builtin", name
    path = sh.lookup(name)
    if path is not None and not fsutil.is_dir(sh.fs_context(), path):
        return "file", path
    return None


@builtin("command")
async def command(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    mode = ""
    while args and args[0].startswith("-") and args[0] != "-":
        flag = args.pop(0)
        if flag == "--":
            break
        if "v" in flag:
            mode = "v"
        if "V" in flag:
            mode = "V"
    if not args:
        return 0
    if mode:
        status = 0
        for name in args:
            found = _describe(sh, name)
            if found is None:
                if mode == "V":
                    ctx.err(f"{sh.name}: command: {name}: not found\n")
                status = 1
            elif mode == "v":
                ctx.out(f"{found[1]}\n")
            else:
                ctx.out(_type_line(name, found))
        return status
    return await sh.invoke(args, {}, sh.current_io, functions=False)


def _type_line(name: str, found: tuple[str, str]) -> str:
    kind, where = found
    if kind == "file":
        return f"{name} is {where}\n"
    if kind == "builtin":
        return f"{name} is a shell builtin\n"
    if kind == "keyword":
        return f"{name} is a shell keyword\n"
    return f"{name} is a function\n"


@builtin("type")
async def type_(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    flags = "".join(a[1:] for a in argv[1:] if a.startswith("-") and a != "--")
    names = [a for a in argv[1:] if not a.startswith("-")]
    status = 0
    for name in names:
        found = _describe(sh, name)
        if found is None:
            if "t" not in flags and "p" not in flags and "P" not in flags:
                ctx.err(f"{sh.name}: type: {name}: not found\n")
            status = 1
        elif "t" in flags:
            ctx.out(f"{found[0]}\n")
        elif "p" in flags or "P" in flags:
            if found[0] == "file":
                ctx.out(f"{found[1]}\n")
        else:
            ctx.out(_type_line(name, found))
    return status


@builtin("read")
async def read(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    raw = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        flag = args.pop(0)
        if flag == "--":
            break
        if "r" in flag:
            raw = True
        if "p" in flag and args:
            args.pop(0)  # prompt: printed only on a terminal
    names = args or ["REPLY"]
    stream = sh.current_io.stdin
    line = await stream.read_line() if stream is not None else None
    if line is None:
        for name in names:
            sh.vars[name] = ""
        return 1
    text = line.decode(errors="replace")
    ended = text.endswith("\n")
    text = text.removesuffix("\n")
    if not raw:
        while text.endswith("\\") and stream is not None:
            more = await stream.read_line()
            if more is None:
                break
            text = text[:-1] + more.decode(errors="replace").removesuffix("\n")
        text = re.sub(r"\\(.)", r"\1", text)
    if names == ["REPLY"]:
        sh.vars["REPLY"] = text
        return 0 if ended else 1
    ifs = sh.vars.get("IFS", " \t\n")
    white = "".join(c for c in ifs if c in " \t\n")
    text = text.strip(white) if white else text
    pattern = f"[{re.escape(ifs)}]+" if ifs else None
    fields = re.split(pattern, text, maxsplit=len(names) - 1) if pattern and text else [text]
    for index, name in enumerate(names):
        sh.vars[name] = fields[index] if index < len(fields) else ""
    return 0 if ended else 1


@builtin("eval")
async def eval_(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    source = " ".join(argv[1:])
    try:
        program = parse(source)
    except ShellSyntaxError as exc:
        raise CommandError(f"{sh.name}: eval: line {exc.line}: {exc}", 2) from None
    return await sh.run_list(program, sh.current_io)


@builtin(".", "source")
async def source(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    if len(argv) < 2:
        raise CommandError(f"{sh.name}: {argv[0]}: filename argument required", 2)
    path = argv[1]
    if "/" not in path:
        path = sh.abspath(path)
    text = fsutil.read_bytes(ctx, path, f"{sh.name}: {argv[0]}").decode(errors="replace")
    try:
        program = parse(text)
    except ShellSyntaxError as exc:
        raise CommandError(f"{argv[1]}: line {exc.line}: {exc}", 2) from None
    saved = sh.positional
    if len(argv) > 2:
        sh.positional = argv[2:]
    try:
        return await sh.run_list(program, sh.current_io)
    except _interp.ReturnSignal as ret:
        return ret.status
    finally:
        sh.positional = saved


@builtin("wait")
async def wait(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    return await sh.wait_jobs()


@builtin("trap")
async def trap(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    if not args or args == ["-p"]:
        for signal, action in sh.traps.items():
            ctx.out(f"trap -- {shlex.quote(action)} {signal}\n")
        return 0
    action, signals = args[0], args[1:]
    for signal in signals:
        key = "EXIT" if signal in ("0", "EXIT", "SIGEXIT") else signal.upper().removeprefix("SIG")
        if action == "-":
            sh.traps.pop(key, None)
        else:
            # Only EXIT ever fires: nothing sends signals to a lab shell.
            sh.traps[key] = action
    return 0


@builtin("exec")
async def exec_(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    if len(argv) < 2:
        raise CommandError("fuellab: exec without a command (permanent redirections) is not simulated")
    status = await sh.invoke(argv[1:], {}, sh.current_io, functions=False)
    raise _interp.ShellExit(status)


@builtin("hash")
async def hash_(sh: _interp.Shell, ctx: Context, argv: list[str]) -> int:
    # The lab shell keeps no table of command locations: every lookup walks PATH.
    for name in (a for a in argv[1:] if not a.startswith("-")):
        if sh.lookup(name) is None:
            raise CommandError(f"{sh.name}: hash: {name}: not found")
    return 0
