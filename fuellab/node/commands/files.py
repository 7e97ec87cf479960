"""File coreutils over the node's filesystem: ls, stat, touch, chmod, chown, chgrp, cp, mv,
rm, mkdir, rmdir, ln, readlink. Modes are the real files' modes; owners are root unless
chown recorded another account of the node (see fsutil.get_owner). Mount points behave
as such: `rm -rf` of one empties it and answers "Device or resource busy"."""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat as stat_mod
import time

from fuellab.node.commands import command, fsutil, opts
from fuellab.node.context import CommandError, Context

# --------------------------------------------------------------------------- ls


def _human(size: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            if unit == "":
                return str(int(size))
            return f"{size:.1f}{unit}" if size < 10 else f"{size:.0f}{unit}"
        size /= 1024
    return str(size)


def _mtime(st: os.stat_result) -> str:
    when = time.localtime(st.st_mtime)
    if abs(time.time() - st.st_mtime) > 182 * 86400:
        return time.strftime("%b %e  %Y", when)
    return time.strftime("%b %e %H:%M", when)


def _quote_name(name: str, q: bool) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "?", name) if q else name


@command("ls")
async def ls(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "1aAdlhqrRStFinCx",
                        ("all", "almost-all", "directory", "human-readable", "hide-control-chars",
                         "reverse", "recursive", "classify", "inode", "numeric-uid-gid",
                         "color=", "color", "full-time", "time-style="))
    has = parsed.has
    long = has("-l", "-n", "--numeric-uid-gid")
    show_all = has("-a", "--all")
    almost = has("-A", "--almost-all")
    quote = has("-q", "--hide-control-chars")
    recursive = has("-R", "--recursive")
    classify = has("-F", "--classify")
    human = has("-h", "--human-readable")
    operands = parsed.args or ["."]
    status = 0
    files: list[str] = []
    dirs: list[str] = []
    for name in operands:
        if not fsutil.exists(ctx, name, follow=False):
            ctx.err(f"ls: cannot access {name}: No such file or directory\n")
            status = 2
            continue
        if fsutil.is_dir(ctx, name) and not has("-d", "--directory"):
            dirs.append(name)
        else:
            files.append(name)

    def sort_key(entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
        def stat_of(path: str) -> os.stat_result | None:
            try:
                return fsutil.lstat(ctx, path)
            except OSError:
                return None

        if has("-t"):
            entries = sorted(entries, key=lambda e: (-(getattr(stat_of(e[1]), "st_mtime", 0)), e[0]))
        elif has("-S"):
            entries = sorted(entries, key=lambda e: (-(getattr(stat_of(e[1]), "st_size", 0)), e[0]))
        else:
            entries = sorted(entries, key=lambda e: e[0].encode("utf-8", "surrogateescape"))
        return list(reversed(entries)) if has("-r", "--reverse") else entries

    def render(entries: list[tuple[str, str]], total: bool) -> str:
        if not long:
            lines = []
            for shown, path in entries:
                suffix = _classify(ctx, path) if classify else ""
                lines.append(_quote_name(shown, quote) + suffix + "\n")
            return "".join(lines)
        rows = []
        blocks = 0
        for shown, path in entries:
            try:
                st = fsutil.lstat(ctx, path)
            except OSError:
                continue
            blocks += st.st_blocks // 2
            size = _human(st.st_size) if human else str(st.st_size)
            name = _quote_name(shown, quote)
            if stat_mod.S_ISLNK(st.st_mode):
                name += " -> " + fsutil.read_symlink(ctx, path)
            elif classify:
                name += _classify(ctx, path)
            user, group = fsutil.get_owner(ctx, path)
            if has("-n", "--numeric-uid-gid"):
                user, group = str(fsutil.account_ids(user)[0]), str(fsutil.account_ids(group)[1])
            rows.append((fsutil.mode_string(st.st_mode), str(st.st_nlink), user, group, size,
                         _mtime(st), name))
        widths = [max((len(r[i]) for r in rows), default=0) for i in range(5)]
        out = [f"total {_human(blocks * 1024) if human else blocks}\n"] if total else []
        for r in rows:
            out.append(f"{r[0]} {r[1]:>{widths[1]}} {r[2]:<{widths[2]}} {r[3]:<{widths[3]}} "
                       f"{r[4]:>{widths[4]}} {r[5]} {r[6]}\n")
        return "".join(out)

    chunks: list[str] = []
    if files:
        chunks.append(render(sort_key([(f, f) for f in files]), total=False))
    queue = [d for _, d in sort_key([(d, d) for d in dirs])]
    show_headers = len(operands) > 1 or recursive
    first = not files
    while queue:
        folder = queue.pop(0)
        try:
            names = fsutil.listdir(ctx, folder)
        except OSError as exc:
            ctx.err(f"ls: cannot open directory {folder}: {fsutil.strerror(exc)}\n")
            status = 2
            continue
        if not (show_all or almost):
            names = [n for n in names if not n.startswith(".")]
        entries = [(n, posixpath.join(folder, n)) for n in names]
        if show_all:
            entries += [(".", folder), ("..", posixpath.join(folder, ".."))]
        entries = sort_key(entries)
        header = f"{folder}:\n" if show_headers else ""
        chunks.append(("" if first else "\n") + header + render(entries, total=True))
        first = False
        if recursive:
            subdirs = [p for n, p in entries if n not in (".", "..") and fsutil.is_dir(ctx, p)
                       and not ctx.path(p).is_symlink()]
            queue = subdirs + queue
    ctx.out("".join(chunks))
    return status


def _classify(ctx: Context, path: str) -> str:
    try:
        st = fsutil.lstat(ctx, path)
    except OSError:
        return ""
    if stat_mod.S_ISDIR(st.st_mode):
        return "/"
    if stat_mod.S_ISLNK(st.st_mode):
        return "@"
    if st.st_mode & 0o111:
        return "*"
    return ""


# --------------------------------------------------------------------------- stat


def _stat_field(ctx: Context, name: str, st: os.stat_result, directive: str,
                follow: bool = False) -> str:
    mode = st.st_mode
    if directive == "a":
        return f"{stat_mod.S_IMODE(mode):o}"
    if directive == "A":
        return fsutil.mode_string(mode)
    if directive in ("u", "g", "U", "G"):
        user, group = fsutil.get_owner(ctx, name, follow=follow)
        if directive == "U":
            return user
        if directive == "G":
            return group
        return str(fsutil.account_ids(user)[0] if directive == "u" else fsutil.account_ids(group)[1])
    if directive == "s":
        return str(st.st_size)
    if directive == "n":
        return name
    if directive == "N":
        if stat_mod.S_ISLNK(mode):
            return f"'{name}' -> '{fsutil.read_symlink(ctx, name)}'"
        return f"'{name}'"
    if directive == "F":
        return fsutil.file_type(mode, st.st_size)
    if directive == "f":
        return f"{mode:x}"
    if directive == "h":
        return str(st.st_nlink)
    if directive == "i":
        return str(st.st_ino)
    if directive == "b":
        return str(st.st_blocks)
    if directive == "B":
        return "512"
    if directive == "o":
        return "4096"
    if directive == "d":
        return str(st.st_dev)
    if directive == "D":
        return f"{st.st_dev:x}"
    if directive == "m":
        return "/"
    if directive in ("t", "T"):
        return "0"
    times = {"x": st.st_atime, "y": st.st_mtime, "z": st.st_ctime}
    if directive in times:
        value = times[directive]
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) + \
            f".{int((value % 1) * 1e9):09d} " + time.strftime("%z", time.localtime(value))
    if directive in ("X", "Y", "Z"):
        return str(int(times[directive.lower()]))
    if directive == "w":
        return "-"
    if directive == "W":
        return "0"
    return "?"


def _stat_format(ctx: Context, fmt: str, name: str, st: os.stat_result, follow: bool = False) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "%%":
            return "%"
        flags, directive = m.group(1), m.group(2)
        text = _stat_field(ctx, name, st, directive, follow)
        return f"%{flags}s" % text if flags else text

    return re.sub(r"%%|%([-#0 +']*\d*)([aAbBdDfFgGhimnNostTuUwWxXyYzZ])", repl, fmt)


def _default_stat(ctx: Context, name: str, st: os.stat_result) -> str:
    shown = _stat_field(ctx, name, st, "N").replace("'", "‘", 1).replace("'", "’", 1)
    kind = fsutil.file_type(st.st_mode, st.st_size)
    return (
        f"  File: {shown}\n"
        f"  Size: {st.st_size:<10}\tBlocks: {st.st_blocks:<10} IO Block: 4096   {kind}\n"
        f"Device: {st.st_dev:x}h/{st.st_dev}d\tInode: {st.st_ino:<11} Links: {st.st_nlink}\n"
        f"Access: ({stat_mod.S_IMODE(st.st_mode):04o}/{fsutil.mode_string(st.st_mode)})  "
        f"Uid: ({_stat_field(ctx, name, st, 'u'):>5}/{_stat_field(ctx, name, st, 'U'):>8})   "
        f"Gid: ({_stat_field(ctx, name, st, 'g'):>5}/{_stat_field(ctx, name, st, 'G'):>8})\n"
        f"Access: {_stat_field(ctx, name, st, 'x')}\n"
        f"Modify: {_stat_field(ctx, name, st, 'y')}\n"
        f"Change: {_stat_field(ctx, name, st, 'z')}\n"
        " Birth: -\n"
    )


@command("stat")
async def stat(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "Lc:tf", ("dereference", "format=", "printf=", "terse", "file-system"))
    fmt = parsed.value("-c", "--format")
    printf = parsed.value("--printf")
    follow = parsed.has("-L", "--dereference")
    if not parsed.args:
        raise CommandError("stat: missing operand\nTry 'stat --help' for more information.")
    status = 0
    for name in parsed.args:
        try:
            st = fsutil.stat(ctx, name, follow=follow)
        except OSError:
            ctx.err(f"stat: cannot stat '{name}': No such file or directory\n")
            status = 1
            continue
        if printf is not None:
            from fuellab.node.commands.basic import backslash_escapes

            ctx.out(_stat_format(ctx, backslash_escapes(printf)[0], name, st, follow))
        elif fmt is not None:
            ctx.out(_stat_format(ctx, fmt, name, st, follow) + "\n")
        elif parsed.has("-t", "--terse"):
            ctx.out(_stat_format(ctx, "%n %s %b %f %u %g %D %i %h %t %T %X %Y %Z %W %o", name, st) + "\n")
        else:
            ctx.out(_default_stat(ctx, name, st))
    return status


# --------------------------------------------------------------------------- touch


def _parse_touch_time(value: str, stamp: bool) -> float:
    if stamp:  # -t [[CC]YY]MMDDhhmm[.ss]
        m = re.fullmatch(r"(\d{2,4})?(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{2}))?", value)
        if not m:
            raise CommandError(f"touch: invalid date format '{value}'")
        year = int(m.group(1)) if m.group(1) else time.localtime().tm_year
        year = year + 2000 if year < 100 else year
        parts = (year, int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)),
                 int(m.group(6) or 0), 0, 0, -1)
        return time.mktime(parts)  # type: ignore[arg-type]
    value = value.strip()
    if value.startswith("@"):
        try:
            return float(value[1:])
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"):
        try:
            return time.mktime(time.strptime(value, fmt))
        except ValueError:
            continue
    if value == "now":
        return time.time()
    raise CommandError(f"touch: invalid date format '{value}'")


@command("touch")
async def touch(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "acmd:t:r:hf", ("no-create", "date=", "reference=", "time=",
                                              "no-dereference"))
    if not parsed.args:
        raise CommandError("touch: missing file operand\nTry 'touch --help' for more information.")
    when: float | None = None
    if parsed.value("-d", "--date") is not None:
        when = _parse_touch_time(parsed.value("-d", "--date") or "", False)
    if parsed.value("-t") is not None:
        when = _parse_touch_time(parsed.value("-t") or "", True)
    ref = parsed.value("-r", "--reference")
    if ref is not None:
        try:
            when = fsutil.stat(ctx, ref).st_mtime
        except OSError:
            raise CommandError(f"touch: failed to get attributes of '{ref}': No such file or directory") from None
    status = 0
    for name in parsed.args:
        target = ctx.path(name)
        if ctx.abspath(name) in fsutil.DEVICES:
            continue
        try:
            if not target.exists():
                if parsed.has("-c", "--no-create"):
                    continue
                target.touch()
            st = target.stat()
            atime = st.st_atime if parsed.has("-m") and not parsed.has("-a") else (when or time.time())
            mtime = st.st_mtime if parsed.has("-a") and not parsed.has("-m") else (when or time.time())
            os.utime(target, (atime, mtime))
        except OSError as exc:
            ctx.err(f"touch: cannot touch '{name}': {fsutil.strerror(exc)}\n")
            status = 1
    return status


# --------------------------------------------------------------------------- chmod / chown


def apply_mode(spec: str, mode: int, is_dir: bool) -> int:
    """An octal or symbolic (u+x,go-w,a=r,+X) chmod mode applied to `mode`."""
    if re.fullmatch(r"[0-7]{1,4}", spec):
        value = int(spec, 8)
        # GNU chmod keeps a directory's setuid/setgid bits unless 5+ digits say otherwise
        return value | (mode & 0o6000 if is_dir and len(spec) < 4 else 0)
    current = stat_mod.S_IMODE(mode)
    for clause in spec.split(","):
        m = re.fullmatch(r"([ugoa]*)((?:[-+=][rwxXstugo]*)+)", clause)
        if not m:
            raise ValueError(spec)
        who = m.group(1) or "a"
        masks = {"u": 0o4700, "g": 0o2070, "o": 0o1007}
        scope = 0
        for w in "ugo" if "a" in who else who:
            scope |= masks[w]
        for op, perms in re.findall(r"([-+=])([rwxXstugo]*)", m.group(2)):
            bits = 0
            for p in perms:
                if p == "r":
                    bits |= 0o444
                elif p == "w":
                    bits |= 0o222
                elif p == "x" or p == "X" and (is_dir or current & 0o111):
                    bits |= 0o111
                elif p == "s":
                    bits |= 0o6000
                elif p == "t":
                    bits |= 0o1000
                elif p in "ugo":
                    shift = {"u": 6, "g": 3, "o": 0}[p]
                    triple = (current >> shift) & 0o7
                    bits |= triple << 6 | triple << 3 | triple
            bits &= scope
            if op == "+":
                current |= bits
            elif op == "-":
                current &= ~bits
            else:
                current = (current & ~scope) | bits
    return current


def _walk(ctx: Context, name: str) -> list[str]:
    """`name` and, for a directory, everything under it (links not followed)."""
    paths = [name]
    if fsutil.is_dir(ctx, name) and not ctx.path(name).is_symlink():
        for child in sorted(fsutil.listdir(ctx, name)):
            paths.extend(_walk(ctx, posixpath.join(name, child)))
    return paths


@command("chmod")
async def chmod(ctx: Context, argv: list[str]) -> int:
    # A mode such as -x or -w looks like an option: take it as the mode, as chmod does.
    args = argv[1:]
    recursive = False
    verbose = False
    rest: list[str] = []
    mode_spec: str | None = None
    ended = False
    for arg in args:
        if not ended and arg in ("-R", "--recursive"):
            recursive = True
        elif not ended and arg in ("-v", "--verbose", "-c", "--changes", "-f", "--silent", "--quiet"):
            verbose = verbose or arg in ("-v", "--verbose")
        elif not ended and arg == "--":
            ended = True
        elif mode_spec is None:
            mode_spec = arg
        else:
            rest.append(arg)
    if mode_spec is None or not rest:
        raise CommandError(f"chmod: missing operand{' after ' + repr(mode_spec) if mode_spec else ''}\n"
                           "Try 'chmod --help' for more information.")
    status = 0
    for name in rest:
        if not fsutil.exists(ctx, name):
            ctx.err(f"chmod: cannot access '{name}': No such file or directory\n")
            status = 1
            continue
        for path in _walk(ctx, name) if recursive else [name]:
            target = ctx.path(path)
            if target.is_symlink():
                continue
            st = fsutil.stat(ctx, path)
            try:
                new = apply_mode(mode_spec, st.st_mode, stat_mod.S_ISDIR(st.st_mode))
            except ValueError:
                raise CommandError(f"chmod: invalid mode: '{mode_spec}'\n"
                                   "Try 'chmod --help' for more information.") from None
            os.chmod(target, new)
            if verbose:
                ctx.out(f"mode of '{path}' changed from {stat_mod.S_IMODE(st.st_mode):04o} "
                        f"({fsutil.mode_string(st.st_mode)[1:]}) to {new:04o} "
                        f"({fsutil.mode_string(new)[1:]})\n")
    return status


async def _chown(ctx: Context, argv: list[str], group_only: bool) -> int:
    prog = "chgrp" if group_only else "chown"
    parsed = opts.parse(argv, "RvcfhHLP", ("recursive", "verbose", "changes", "silent", "quiet",
                                           "no-dereference", "dereference", "reference="))
    args = parsed.args
    reference = parsed.value("--reference")
    user: str | None = None
    group: str | None = None
    if reference is not None:
        if not fsutil.exists(ctx, reference):
            raise CommandError(f"{prog}: failed to get attributes of '{reference}': "
                               "No such file or directory")
        user, group = fsutil.get_owner(ctx, reference)
        if group_only:
            user = None
        files = args
    else:
        if len(args) < 2:
            raise CommandError(f"{prog}: missing operand\nTry '{prog} --help' for more information.")
        spec, files = args[0], args[1:]
        if group_only:
            user_spec, group_spec = "", spec
        else:
            # `user:group`, `user:`, `:group`, `user`; old `user.group` when there is no colon
            user_spec, sep, group_spec = spec.partition(":" if ":" in spec else ".")
            if sep and not group_spec and user_spec:
                group_spec = user_spec  # `chown nova: f`: the user's login group
        if user_spec:
            user = fsutil.account_name(ctx, user_spec)
            if user is None:
                raise CommandError(f"{prog}: invalid user: '{spec}'")
        if group_spec:
            group = fsutil.account_name(ctx, group_spec, group=True)
            if group is None:
                raise CommandError(f"{prog}: invalid group: '{spec}'")
    status = 0
    for name in files:
        if not fsutil.exists(ctx, name, follow=False):
            ctx.err(f"{prog}: cannot access '{name}': No such file or directory\n")
            status = 1
            continue
        paths = _walk(ctx, name) if parsed.has("-R", "--recursive") else [name]
        for path in paths:
            old_user, old_group = fsutil.get_owner(ctx, path)
            try:
                fsutil.set_owner(ctx, path, user or old_user, group or old_group)
            except OSError as exc:
                ctx.err(f"{prog}: changing ownership of '{path}': {fsutil.strerror(exc)}\n")
                status = 1
    return status


@command("chown")
async def chown(ctx: Context, argv: list[str]) -> int:
    return await _chown(ctx, argv, group_only=False)


@command("chgrp")
async def chgrp(ctx: Context, argv: list[str]) -> int:
    return await _chown(ctx, argv, group_only=True)


# --------------------------------------------------------------------------- mkdir / rmdir


@command("mkdir")
async def mkdir(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "pm:v", ("parents", "mode=", "verbose"))
    if not parsed.args:
        raise CommandError("mkdir: missing operand\nTry 'mkdir --help' for more information.")
    mode_spec = parsed.value("-m", "--mode")
    parents = parsed.has("-p", "--parents")
    status = 0
    for name in parsed.args:
        target = ctx.path(name)
        try:
            if parents:
                if fsutil.exists(ctx, name) and not fsutil.is_dir(ctx, name):
                    raise FileExistsError(17, "File exists")
                created = not target.exists()
                target.mkdir(parents=True, exist_ok=True)
            else:
                if fsutil.exists(ctx, name, follow=False):
                    raise FileExistsError(17, "File exists")
                target.mkdir()
                created = True
            if mode_spec is not None:
                os.chmod(target, apply_mode(mode_spec, 0o40755, True))
            if created and parsed.has("-v", "--verbose"):
                ctx.out(f"mkdir: created directory '{name}'\n")
        except OSError as exc:
            ctx.err(f"mkdir: cannot create directory '{name}': {fsutil.strerror(exc)}\n")
            status = 1
    return status


@command("rmdir")
async def rmdir(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "pv", ("parents", "verbose", "ignore-fail-on-non-empty"))
    status = 0
    for name in parsed.args:
        chain = [name]
        if parsed.has("-p", "--parents"):
            head = name.rstrip("/")
            while "/" in head.strip("/"):
                head = head.rsplit("/", 1)[0]
                chain.append(head)
        for path in chain:
            try:
                if ctx.abspath(path) in ctx.node.mounts:
                    raise OSError(16, "Device or resource busy")
                ctx.path(path).rmdir()
            except OSError as exc:
                if not (exc.errno == 39 and parsed.has("--ignore-fail-on-non-empty")):
                    ctx.err(f"rmdir: failed to remove '{path}': {fsutil.strerror(exc)}\n")
                    status = 1
                break
    return status


# --------------------------------------------------------------------------- rm


@command("rm")
async def rm(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "rRfiIdv", ("recursive", "force", "interactive=", "dir", "verbose",
                                          "no-preserve-root", "preserve-root", "one-file-system"))
    recursive = parsed.has("-r", "-R", "--recursive")
    force = parsed.has("-f", "--force")
    if not parsed.args and not force:
        raise CommandError("rm: missing operand\nTry 'rm --help' for more information.")
    status = 0
    for name in parsed.args:
        abspath = ctx.abspath(name)
        if posixpath.basename(name.rstrip("/")) in (".", ".."):
            ctx.err(f"rm: refusing to remove '.' or '..' directory: skipping '{name}'\n")
            status = 1
            continue
        if abspath == "/" and recursive:
            ctx.err("rm: it is dangerous to operate recursively on '/'\n"
                    "rm: use --no-preserve-root to override this failsafe\n")
            status = 1
            continue
        if not fsutil.exists(ctx, name, follow=False):
            if not force:
                ctx.err(f"rm: cannot remove '{name}': No such file or directory\n")
                status = 1
            continue
        target = ctx.path(name)
        if fsutil.is_dir(ctx, name) and not target.is_symlink():
            if not recursive:
                if parsed.has("-d", "--dir"):
                    try:
                        target.rmdir()
                    except OSError as exc:
                        ctx.err(f"rm: cannot remove '{name}': {fsutil.strerror(exc)}\n")
                        status = 1
                    continue
                ctx.err(f"rm: cannot remove '{name}': Is a directory\n")
                status = 1
                continue
            if not _remove_tree(ctx, name, abspath, parsed.has("-v", "--verbose")):
                status = 1
            continue
        try:
            target.unlink()
            if parsed.has("-v", "--verbose"):
                ctx.out(f"removed '{name}'\n")
        except OSError as exc:
            ctx.err(f"rm: cannot remove '{name}': {fsutil.strerror(exc)}\n")
            status = 1
    return status


def _remove_tree(ctx: Context, shown: str, abspath: str, verbose: bool) -> bool:
    """Remove a directory tree; mount points are emptied and stay (busy)."""
    ok = True
    for child in sorted(fsutil.listdir(ctx, abspath)):
        child_abs = posixpath.join(abspath, child)
        child_shown = posixpath.join(shown, child)
        real = ctx.path(child_abs)
        if fsutil.is_dir(ctx, child_abs) and not real.is_symlink():
            ok = _remove_tree(ctx, child_shown, child_abs, verbose) and ok
        else:
            try:
                real.unlink()
                if verbose:
                    ctx.out(f"removed '{child_shown}'\n")
            except OSError as exc:
                ctx.err(f"rm: cannot remove '{child_shown}': {fsutil.strerror(exc)}\n")
                ok = False
    if abspath in ctx.node.mounts:
        ctx.err(f"rm: cannot remove '{shown}': Device or resource busy\n")
        return False
    if not ok or fsutil.is_mount_ancestor(ctx, abspath):
        return False  # something below stays (a mount point): the folder cannot go
    try:
        ctx.path(abspath).rmdir()
        if verbose:
            ctx.out(f"removed directory: '{shown}'\n")
    except OSError as exc:
        ctx.err(f"rm: cannot remove '{shown}': {fsutil.strerror(exc)}\n")
        return False
    return True


# --------------------------------------------------------------------------- cp / mv


def _copy_one(ctx: Context, src: str, dst: str, preserve: bool, links: bool) -> None:
    """Copy a file, link or (already recursive-checked) directory from node path to node path."""
    src_real, dst_real = ctx.path(src), ctx.path(dst)
    if links and src_real.is_symlink():
        if os.path.lexists(dst_real):
            dst_real.unlink()
        target = fsutil.read_symlink(ctx, src)
        fsutil.make_symlink(ctx, target, dst)
        return
    if fsutil.is_dir(ctx, src):
        if not dst_real.exists():
            dst_real.mkdir()
            if src_real.exists():
                shutil.copymode(src_real, dst_real)
        for child in sorted(fsutil.listdir(ctx, src)):
            _copy_one(ctx, posixpath.join(src, child), posixpath.join(dst, child), preserve, links)
        if preserve and src_real.exists():
            shutil.copystat(src_real, dst_real)
        return
    if dst_real.is_symlink():
        dst_real.unlink()
    shutil.copyfile(src_real, dst_real)
    if preserve:
        shutil.copystat(src_real, dst_real)  # with the owner attribute, as cp -p keeps owners
    else:
        shutil.copymode(src_real, dst_real)


def _destinations(ctx: Context, prog: str, args: list[str], target_dir: str | None,
                  no_target_dir: bool) -> list[tuple[str, str]]:
    if target_dir is not None:
        sources, dest = args, target_dir
        if not fsutil.is_dir(ctx, dest):
            raise CommandError(f"{prog}: target '{dest}' is not a directory")
        return [(s, posixpath.join(dest, posixpath.basename(s.rstrip("/")))) for s in sources]
    if len(args) < 2:
        if not args:
            raise CommandError(f"{prog}: missing file operand\nTry '{prog} --help' for more information.")
        raise CommandError(f"{prog}: missing destination file operand after '{args[0]}'\n"
                           f"Try '{prog} --help' for more information.")
    sources, dest = args[:-1], args[-1]
    if not no_target_dir and fsutil.is_dir(ctx, dest):
        return [(s, posixpath.join(dest, posixpath.basename(s.rstrip("/")))) for s in sources]
    if len(sources) > 1:
        raise CommandError(f"{prog}: target '{dest}' is not a directory")
    return [(sources[0], dest)]


@command("cp")
async def cp(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "rRapfnvdPLuTt:i",
                        ("recursive", "archive", "preserve=", "preserve", "force", "no-clobber",
                         "verbose", "no-dereference", "dereference", "update", "no-target-directory",
                         "target-directory=", "interactive", "sparse=", "remove-destination"))
    has = parsed.has
    archive = has("-a", "--archive")
    recursive = archive or has("-r", "-R", "--recursive")
    preserve = archive or has("-p", "--preserve")
    links = archive or has("-d", "-P", "--no-dereference")
    status = 0
    for src, dst in _destinations(ctx, "cp", parsed.args, parsed.value("-t", "--target-directory"),
                                  has("-T", "--no-target-directory")):
        if not fsutil.exists(ctx, src, follow=not links):
            ctx.err(f"cp: cannot stat '{src}': No such file or directory\n")
            status = 1
            continue
        if fsutil.is_dir(ctx, src) and not (links and ctx.path(src).is_symlink()):
            if not recursive:
                ctx.err(f"cp: omitting directory '{src}'\n")
                status = 1
                continue
            dst_abs, src_abs = ctx.abspath(dst), ctx.abspath(src)
            if dst_abs == src_abs or dst_abs.startswith(src_abs.rstrip("/") + "/"):
                ctx.err(f"cp: cannot copy a directory, '{src}', into itself, '{dst}'\n")
                status = 1
                continue
        elif fsutil.is_dir(ctx, dst) and has("-T", "--no-target-directory"):
            ctx.err(f"cp: cannot overwrite directory '{dst}' with non-directory\n")
            status = 1
            continue
        if fsutil.exists(ctx, dst) and ctx.path(src).exists() and os.path.samefile(ctx.path(src), ctx.path(dst)):
            ctx.err(f"cp: '{src}' and '{dst}' are the same file\n")
            status = 1
            continue
        if has("-n", "--no-clobber") and fsutil.exists(ctx, dst, follow=False):
            continue
        try:
            _copy_one(ctx, src, dst, preserve, links)
            if has("-v", "--verbose"):
                ctx.out(f"'{src}' -> '{dst}'\n")
        except OSError as exc:
            ctx.err(f"cp: cannot create regular file '{dst}': {fsutil.strerror(exc)}\n")
            status = 1
    return status


@command("mv")
async def mv(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "fnviTt:u", ("force", "no-clobber", "verbose", "interactive",
                                           "no-target-directory", "target-directory=", "update"))
    has = parsed.has
    status = 0
    for src, dst in _destinations(ctx, "mv", parsed.args, parsed.value("-t", "--target-directory"),
                                  has("-T", "--no-target-directory")):
        src_real, dst_real = ctx.path(src), ctx.path(dst)
        if not fsutil.exists(ctx, src, follow=False):
            ctx.err(f"mv: cannot stat '{src}': No such file or directory\n")
            status = 1
            continue
        if ctx.abspath(src) in ctx.node.mounts:
            ctx.err(f"mv: cannot move '{src}' to '{dst}': Device or resource busy\n")
            status = 1
            continue
        if has("-n", "--no-clobber") and fsutil.exists(ctx, dst, follow=False):
            continue
        dst_abs, src_abs = ctx.abspath(dst), ctx.abspath(src)
        if dst_abs.startswith(src_abs.rstrip("/") + "/"):
            ctx.err(f"mv: cannot move '{src}' to a subdirectory of itself, '{dst}'\n")
            status = 1
            continue
        try:
            if src_real.is_symlink():
                target = fsutil.read_symlink(ctx, src)
                if os.path.lexists(dst_real):
                    dst_real.unlink()
                fsutil.make_symlink(ctx, target, dst)  # re-anchored for its new folder
                src_real.unlink()
            elif dst_real.is_dir() and src_real.is_dir():
                os.replace(src_real, dst_real)  # fails unless dst is empty, as rename(2) does
            else:
                shutil.move(str(src_real), str(dst_real))
            if has("-v", "--verbose"):
                ctx.out(f"'{src}' -> '{dst}'\n")
        except OSError as exc:
            ctx.err(f"mv: cannot move '{src}' to '{dst}': {fsutil.strerror(exc)}\n")
            status = 1
    return status


# --------------------------------------------------------------------------- ln / readlink


@command("ln")
async def ln(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "sfnvTt:r", ("symbolic", "force", "no-dereference", "verbose",
                                           "no-target-directory", "target-directory=", "relative"))
    has = parsed.has
    args = parsed.args
    if len(args) == 1 and parsed.value("-t", "--target-directory") is None:
        args = [args[0], "."]
    pairs = _destinations(ctx, "ln", args, parsed.value("-t", "--target-directory"),
                          has("-T", "--no-target-directory", "-n", "--no-dereference")
                          and bool(args) and ctx.path(args[-1]).is_symlink())
    status = 0
    for target, link in pairs:
        link_real = ctx.path(link)
        try:
            if os.path.lexists(link_real):
                if not has("-f", "--force"):
                    raise FileExistsError(17, "File exists")
                if link_real.is_dir() and not link_real.is_symlink():
                    raise IsADirectoryError(21, "Is a directory")
                link_real.unlink()
            if has("-s", "--symbolic"):
                fsutil.make_symlink(ctx, target, link)
            else:
                if not fsutil.exists(ctx, target):
                    ctx.err(f"ln: failed to access '{target}': No such file or directory\n")
                    status = 1
                    continue
                os.link(ctx.path(target), link_real)
            if has("-v", "--verbose"):
                ctx.out(f"'{link}' -> '{target}'\n")
        except OSError as exc:
            kind = "symbolic link" if has("-s", "--symbolic") else "hard link"
            ctx.err(f"ln: failed to create {kind} '{link}': {fsutil.strerror(exc)}\n")
            status = 1
    return status


@command("readlink")
async def readlink(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "femnqsvz", ("canonicalize", "canonicalize-existing",
                                           "canonicalize-missing", "no-newline", "quiet", "silent",
                                           "verbose", "zero"))
    has = parsed.has
    end = "\0" if has("-z", "--zero") else ("" if has("-n", "--no-newline") else "\n")
    if not parsed.args:
        raise CommandError("readlink: missing operand\nTry 'readlink --help' for more information.")
    status = 0
    for name in parsed.args:
        if has("-f", "--canonicalize", "-e", "--canonicalize-existing", "-m", "--canonicalize-missing"):
            if has("-m", "--canonicalize-missing"):
                result = fsutil.canonical(ctx, name, must_exist=False) or ctx.abspath(name)
            else:
                result = fsutil.canonical(ctx, name, must_exist=has("-e", "--canonicalize-existing"))
        else:
            real = ctx.path(name)
            result = fsutil.read_symlink(ctx, name) if real.is_symlink() else None
        if result is None:
            if has("-v", "--verbose"):
                ctx.err(f"readlink: {name}: No such file or directory\n")
            status = 1
            continue
        ctx.out(result + end)
    return status
