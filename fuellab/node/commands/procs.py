"""ps and pgrep over the node's process table (fuellab.node.daemons.processes).

`ps -Aww -o comm:50,pcpu:50,pid:50,pmem:50,lstart:50,args` is what
pytest-testinfra sends; `ps aux`, `ps -ef`, `-p`, `-C`, `-u` and `-o` lists
with `:width` and `=header` follow procps 3.3.9.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from fuellab.node import daemons
from fuellab.node.commands import command
from fuellab.node.commands import opts as getopt
from fuellab.node.context import CommandError, Context
from fuellab.node.daemons import Process


def _ctime(d: datetime) -> str:
    return f"{d:%a %b} {d.day:2d} {d:%H:%M:%S %Y}"


def _elapsed(seconds: float) -> str:
    s = max(0, int(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    text = f"{minutes:02d}:{s:02d}"
    if hours or days:
        text = f"{hours:02d}:{text}"
    if days:
        text = f"{days}-{text}"
    return text


def _cputime(p: Process, now: float) -> str:
    used = int(max(0.0, now - p.started) * p.pcpu / 100)
    hours, rest = divmod(used, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


Field = tuple[str, bool, Callable[[Process, float], str]]  # header, right-aligned, value

FIELDS: dict[str, Field] = {
    "pid": ("PID", True, lambda p, now: str(p.pid)),
    "ppid": ("PPID", True, lambda p, now: str(p.ppid)),
    "comm": ("COMMAND", False, lambda p, now: p.comm),
    "args": ("COMMAND", False, lambda p, now: p.args),
    "pcpu": ("%CPU", True, lambda p, now: f"{p.pcpu:.1f}"),
    "pmem": ("%MEM", True, lambda p, now: f"{p.pmem:.1f}"),
    "lstart": ("STARTED", False, lambda p, now: _ctime(p.start_date)),
    "user": ("USER", False, lambda p, now: p.user if len(p.user) <= 8 else p.user[:7] + "+"),
    "uid": ("UID", True, lambda p, now: str(_uid(p.user))),
    "rss": ("RSS", True, lambda p, now: str(p.rss)),
    "vsz": ("VSZ", True, lambda p, now: str(p.rss * 3)),
    "tty": ("TT", False, lambda p, now: "?"),
    "stat": ("STAT", False, lambda p, now: "Ss" if p.pid == 1 else "Ssl"),
    "etime": ("ELAPSED", True, lambda p, now: _elapsed(now - p.started)),
    "time": ("TIME", True, lambda p, now: _cputime(p, now)),
    "start": ("START", True, lambda p, now: f"{p.start_date:%H:%M}"),
    "stime": ("STIME", False, lambda p, now: f"{p.start_date:%H:%M}"),
    "c": ("C", True, lambda p, now: str(int(p.pcpu))),
    "nlwp": ("NLWP", True, lambda p, now: "1" if p.pid == 1 else "4"),
}
ALIASES = {"%cpu": "pcpu", "%mem": "pmem", "cmd": "args", "command": "args", "ucomm": "comm",
           "ucmd": "comm", "euser": "user", "uname": "user", "tt": "tty", "s": "stat",
           "cputime": "time", "bsdstart": "start", "thcount": "nlwp", "rssize": "rss", "vsize": "vsz",
           "sz": "vsz", "state": "stat"}
AUX = "user,pid,%cpu,%mem,vsz,rss,tty,stat,start,time,command"
FULL = "user=UID,pid,ppid,c,stime,tty=TTY,time,args=CMD"
DEFAULT = "pid,tty=TTY,time,comm=CMD"


def _uid(user: str) -> int:
    from fuellab.node.commands.system import SYSTEM_USERS

    return SYSTEM_USERS.get(user, (0, 0, ""))[0]


def parse_format(spec: str) -> list[tuple[str, str, int | None]]:
    """`comm:50,pid=,args` -> [(field, header, width)]; a `=header` takes the rest of the item."""
    columns = []
    for item in re.split(r"[,\s]+", spec.strip()):
        if not item:
            continue
        name, eq, header = item.partition("=")
        name, _, width = name.partition(":")
        key = ALIASES.get(name.lower(), name.lower())
        if key not in FIELDS:
            raise CommandError(f"error: unknown user-defined format specifier \"{name}\"\n\n"
                               "Usage:\n ps [options]\n\n Try 'ps --help <simple|list|output|threads|misc|all>'\n"
                               "  or 'ps --help <s|l|o|t|m|a>'\n for additional help text.\n\n"
                               "For more details see ps(1).")
        columns.append((key, header if eq else FIELDS[key][0], int(width) if width.isdigit() else None))
    return columns


def format_table(procs: list[Process], columns: list[tuple[str, str, int | None]], now: float,
                 headers: bool = True) -> str:
    rows = [[FIELDS[key][2](p, now) for key, _, _ in columns] for p in procs]
    widths = [width if width is not None else max([len(header)] + [len(r[i]) for r in rows])
              for i, (_, header, width) in enumerate(columns)]
    lines = []
    table = ([[h for _, h, _ in columns]] if headers and any(h for _, h, _ in columns) else []) + rows
    for row in table:
        cells = []
        for i, (key, _, _) in enumerate(columns):
            last = i == len(columns) - 1
            value = row[i]
            if FIELDS[key][1]:
                cells.append(value.rjust(widths[i]))
            elif last:
                cells.append(value)
            else:
                cells.append(value.ljust(widths[i]))
        lines.append(" ".join(cells).rstrip())
    return "".join(line + "\n" for line in lines)


def _split_list(values: list[str]) -> list[str]:
    return [v for value in values for v in re.split(r"[,\s]+", value) if v]


@command("ps")
async def ps(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    fmt: str | None = None
    pids: list[str] = []
    names: list[str] = []
    users: list[str] = []
    headers = True
    if args and not args[0].startswith("-"):
        # BSD syntax: `ps aux`, `ps axo pid,args`, `ps p 1`.
        letters, rest = args[0], args[1:]
        for c in letters:
            if c == "u":
                fmt = AUX
            elif c == "o":
                if not rest:
                    raise CommandError("error: format specification must follow o")
                fmt = rest.pop(0)
            elif c == "p":
                if not rest:
                    raise CommandError("error: list of process IDs must follow p")
                pids.append(rest.pop(0))
            elif c not in "axwef":
                raise CommandError("error: unsupported option (BSD syntax)\n\n Usage: ps [options]")
        args = rest
    parsed = getopt.parse(["ps", *args], "AeafwlHp:C:u:U:o:O:q:", (
        "pid=", "ppid=", "format=", "sort=", "no-headers", "headers", "cols=", "columns=", "width=",
        "user=", "User=", "forest"))
    operands = parsed.args
    for dashed, value in parsed.opts:
        name = dashed.lstrip("-")
        if name in ("o", "format", "O"):
            fmt = value if fmt is None or name != "O" else f"{fmt},{value}"
        elif name == "f":
            fmt = fmt or FULL
        elif name in ("p", "pid", "q"):
            pids.append(value or "")
        elif name == "C":
            names.append(value or "")
        elif name in ("u", "U", "user", "User"):
            users.append(value or "")
        elif name == "no-headers":
            headers = False
    if operands:
        pids += operands
    procs = daemons.processes(ctx.lab, ctx.node)
    if pids:
        wanted = set()
        for p in _split_list(pids):
            if not p.isdigit():
                raise CommandError("error: process ID list syntax error\n\nUsage:\n ps [options]")
            wanted.add(int(p))
        procs = [p for p in procs if p.pid in wanted]
    if names:
        wanted_names = set(_split_list(names))
        procs = [p for p in procs if p.comm in wanted_names]
    if users:
        wanted_users = set(_split_list(users))
        procs = [p for p in procs if p.user in wanted_users or str(_uid(p.user)) in wanted_users]
    columns = parse_format(fmt or DEFAULT)
    ctx.out(format_table(procs, columns, ctx.world.clock.now(), headers))
    return 0 if procs else 1


@command("pgrep")
async def pgrep(ctx: Context, argv: list[str]) -> int:
    parsed = getopt.parse(argv, "flaxcnou:P:d:", ("full", "list-name", "list-full", "exact", "count",
                                                 "newest", "oldest", "delimiter="), status=2)
    operands = parsed.args
    flags = {name.lstrip("-") for name, _ in parsed.opts}
    values = {name.lstrip("-"): value for name, value in parsed.opts}
    if len(operands) != 1 and not values.get("u") and not values.get("P"):
        raise CommandError("pgrep: no matching criteria specified\nTry `pgrep --help' for more information.", 2)
    try:
        pattern = re.compile(operands[0]) if operands else None
    except re.error as exc:
        raise CommandError(f"pgrep: {exc}", 2) from exc
    full = flags & {"f", "full"}
    found = []
    for p in daemons.processes(ctx.lab, ctx.node):
        text = p.args if full else p.comm
        if pattern is not None:
            hit = pattern.fullmatch(text) if flags & {"x", "exact"} else pattern.search(text)
            if not hit:
                continue
        if values.get("u") and p.user not in values["u"].split(","):
            continue
        if values.get("P") and str(p.ppid) not in values["P"].split(","):
            continue
        found.append(p)
    if flags & {"n", "newest"}:
        found = found[-1:]
    if flags & {"o", "oldest"}:
        found = found[:1]
    if flags & {"c", "count"}:
        ctx.out(f"{len(found)}\n")
        return 0 if found else 1
    delimiter = values.get("d") or values.get("delimiter") or "\n"
    items = []
    for p in found:
        if flags & {"a", "list-full"}:
            items.append(f"{p.pid} {p.args}")
        elif flags & {"l", "list-name"}:
            items.append(f"{p.pid} {p.comm}")
        else:
            items.append(str(p.pid))
    if items:
        ctx.out(delimiter.join(items) + "\n")
    return 0 if found else 1
