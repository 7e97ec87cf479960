"""find (findutils): walk node paths, mount points included.

Covers what clients send (testinfra's SysV fallback `find -L /etc/rc?.d/ -name S??job`,
operators' `find DIR -name PAT -type f`): -L/-P, -name, -iname, -type f|d|l, -maxdepth,
-mindepth, -print; expressions are ANDed, as find does without operators.
"""

from __future__ import annotations

import fnmatch
import posixpath
import stat as stat_mod

from fuellab.node.commands import command, fsutil
from fuellab.node.context import CommandError, Context

TYPES = {"f": stat_mod.S_ISREG, "d": stat_mod.S_ISDIR, "l": stat_mod.S_ISLNK}


def _parse(argv: list[str]) -> tuple[bool, list[str], list[tuple[str, str]], int, int]:
    follow = False
    args = argv[1:]
    while args and args[0] in ("-L", "-P", "-H"):
        follow = args.pop(0) == "-L"
    roots = []
    while args and not args[0].startswith("-"):
        roots.append(args.pop(0))
    tests: list[tuple[str, str]] = []
    maxdepth, mindepth = 1 << 30, 0
    while args:
        opt = args.pop(0)
        if opt == "-print":
            continue
        if opt not in ("-name", "-iname", "-type", "-maxdepth", "-mindepth"):
            raise CommandError(f"find: unknown predicate `{opt}'", 1)
        if not args:
            raise CommandError(f"find: missing argument to `{opt}'", 1)
        value = args.pop(0)
        if opt == "-maxdepth":
            maxdepth = int(value)
        elif opt == "-mindepth":
            mindepth = int(value)
        elif opt == "-type" and value not in TYPES:
            raise CommandError(f"find: Unknown argument to -type: {value}", 1)
        else:
            tests.append((opt, value))
    return follow, roots or ["."], tests, maxdepth, mindepth


def _matches(ctx: Context, path: str, tests: list[tuple[str, str]], follow: bool) -> bool:
    name = posixpath.basename(path.rstrip("/")) or path
    for opt, value in tests:
        if opt == "-name" and not fnmatch.fnmatchcase(name, value):
            return False
        if opt == "-iname" and not fnmatch.fnmatchcase(name.lower(), value.lower()):
            return False
        if opt == "-type":
            mode = (fsutil.stat(ctx, path) if follow else fsutil.lstat(ctx, path)).st_mode
            if not TYPES[value](mode):
                return False
    return True


@command("find")
async def find(ctx: Context, argv: list[str]) -> int:
    follow, roots, tests, maxdepth, mindepth = _parse(argv)
    status = 0

    def walk(path: str, depth: int) -> None:
        if depth >= mindepth and _matches(ctx, path, tests, follow):
            ctx.out(path + "\n")
        if depth >= maxdepth:
            return
        is_dir = fsutil.is_dir(ctx, path) if follow else (
            stat_mod.S_ISDIR(fsutil.lstat(ctx, path).st_mode))
        if not is_dir:
            return
        for child in sorted(fsutil.listdir(ctx, path)):
            walk(posixpath.join(path, child) if not path.endswith("/") else path + child, depth + 1)

    for root in roots:
        if not fsutil.exists(ctx, root, follow=follow):
            ctx.err(f"find: `{root}': No such file or directory\n")
            status = 1
            continue
        try:
            walk(root, 0)
        except OSError as exc:
            ctx.err(f"find: `{root}': {fsutil.strerror(exc)}\n")
            status = 1
    return status
