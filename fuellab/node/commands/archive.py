"""tar (c/x/t with z/j, f, -C, `-` for stdin/stdout) and gzip/gunzip/zcat over the node's
files. Archives hold node paths (mount points included) owned by root, as GNU tar
run by root on the node would write them."""

from __future__ import annotations

import asyncio
import gzip as gzip_mod
import io
import os
import posixpath
import re
import stat as stat_mod
import tarfile
import time
import zlib

from fuellab.node.commands import command, fsutil, opts
from fuellab.node.context import CommandError, Context

# --------------------------------------------------------------------------- tar

_TAR_SHORT = "cxtrujzJavf:C:pPOkhT:X:"
_TAR_LONG = ("create", "extract", "get", "list", "append", "gzip", "gunzip", "ungzip", "bzip2",
             "xz", "verbose", "file=", "directory=", "preserve-permissions", "same-permissions",
             "absolute-names", "to-stdout", "keep-old-files", "exclude=", "strip-components=",
             "numeric-owner", "no-same-owner", "same-owner", "overwrite", "wildcards",
             "dereference", "one-file-system", "warning=", "auto-compress", "checkpoint=",
             "totals", "ignore-failed-read", "no-recursion", "files-from=", "exclude-from=",
             "owner=", "group=", "mode=", "atime-preserve", "sparse", "selinux", "acls", "xattrs",
             "force-local")


def _tar_argv(argv: list[str]) -> list[str]:
    """`tar czf out.tgz dir`: a first argument without a dash is a bundle of short options
    whose values follow in order."""
    if len(argv) < 2 or argv[1].startswith("-"):
        return argv
    bundle, rest = argv[1], argv[2:]
    out = [argv[0]]
    for flag in bundle:
        out.append(f"-{flag}")
        if f"{flag}:" in _TAR_SHORT and rest:
            out.append(rest.pop(0))
    return out + rest


class _TarFail(Exception):
    pass


@command("tar")
async def tar(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(_tar_argv(argv), _TAR_SHORT, _TAR_LONG, status=2)
    has = parsed.has
    modes = [m for m, names in (("c", ("-c", "--create")), ("x", ("-x", "--extract", "--get")),
                                ("t", ("-t", "--list")), ("r", ("-r", "--append", "-u")))
             if has(*names)]
    if len(modes) != 1:
        raise CommandError("tar: You must specify one of the '-Acdtrux', '--delete' or '--test-label' "
                           "options\nTry 'tar --help' or 'tar --usage' for more information.", 2)
    mode = modes[0]
    archive = parsed.value("-f", "--file", default="-")
    compression = ""
    if has("-z", "--gzip", "--gunzip", "--ungzip"):
        compression = "gz"
    elif has("-j", "--bzip2"):
        compression = "bz2"
    elif has("-J", "--xz"):
        compression = "xz"
    elif has("-a", "--auto-compress") and archive:
        compression = {".tgz": "gz", ".gz": "gz", ".bz2": "bz2", ".tbz2": "bz2", ".xz": "xz"}.get(
            os.path.splitext(archive)[1], "")
    state = {"failed": False}
    try:
        if mode == "c":
            await _tar_create(ctx, parsed, archive or "-", compression, state)
        elif mode == "r":
            raise CommandError("tar: appending to an archive is not simulated in the lab", 2)
        else:
            await _tar_read(ctx, parsed, archive or "-", mode, state)
    except _TarFail as exc:
        ctx.err(f"tar: {exc}\ntar: Error is not recoverable: exiting now\n")
        return 2
    if state["failed"]:
        ctx.err("tar: Exiting with failure status due to previous errors\n")
        return 2
    return 0


def _excluded(name: str, patterns: list[str]) -> bool:
    import fnmatch

    base = posixpath.basename(name.rstrip("/"))
    return any(fnmatch.fnmatchcase(name.rstrip("/"), p) or fnmatch.fnmatchcase(base, p) for p in patterns)


async def _tar_create(ctx: Context, parsed: opts.Parsed, archive: str, compression: str,
                      state: dict[str, bool]) -> None:
    directory = parsed.value("-C", "--directory")
    base = ctx.abspath(directory) if directory else ctx.cwd
    if directory and not fsutil.is_dir(ctx, base):
        raise _TarFail(f"{directory}: Cannot open: No such file or directory")
    members = list(parsed.args)
    for listing in parsed.values("-T", "--files-from"):
        data = await ctx.read_stdin() if listing == "-" else fsutil.read_bytes(ctx, listing, "tar")
        members.extend(line for line in data.decode(errors="replace").splitlines() if line)
    if not members:
        raise CommandError("tar: Cowardly refusing to create an empty archive\n"
                           "Try 'tar --help' or 'tar --usage' for more information.", 2)
    # Reading and compressing a tree is long work: off the event loop that serves every node.
    await asyncio.to_thread(_tar_write, ctx, parsed, archive, compression, state, base, members)


def _tar_write(ctx: Context, parsed: opts.Parsed, archive: str, compression: str,
               state: dict[str, bool], base: str, members: list[str]) -> None:
    excludes = parsed.values("--exclude")
    verbose = parsed.has("-v", "--verbose")
    absolute = parsed.has("-P", "--absolute-names")
    buffer = io.BytesIO()
    tar_mode = f"w:{compression}" if compression else "w"
    warned_slash = False
    with tarfile.open(fileobj=buffer, mode=tar_mode, format=tarfile.GNU_FORMAT) as out:  # type: ignore[call-overload]
        for member in members:
            node_abs = posixpath.normpath(posixpath.join(base, member))
            if not fsutil.exists(ctx, node_abs, follow=False):
                ctx.err(f"tar: {member}: Cannot stat: No such file or directory\n")
                state["failed"] = True
                continue
            stored = member
            if stored.startswith("/") and not absolute:
                stored = stored.lstrip("/")
                if not warned_slash:
                    ctx.err("tar: Removing leading `/' from member names\n")
                    warned_slash = True
            for path_abs, name in _tar_walk(ctx, node_abs, stored, parsed.has("--no-recursion")):
                if _excluded(name, excludes):
                    continue
                info = _tar_info(ctx, path_abs, name)
                if info is None:
                    continue
                if verbose:
                    ctx.err(name + ("/" if info.isdir() and not name.endswith("/") else "") + "\n")
                if info.isreg():
                    out.addfile(info, io.BytesIO(ctx.path(path_abs).read_bytes()))
                else:
                    out.addfile(info)
    data = buffer.getvalue()
    if archive == "-":
        ctx.out(data)
    else:
        fsutil.write_bytes(ctx, archive, data, "tar")


def _tar_walk(ctx: Context, node_abs: str, stored: str, no_recursion: bool) -> list[tuple[str, str]]:
    entries = [(node_abs, stored)]
    real = ctx.path(node_abs)
    if fsutil.is_dir(ctx, node_abs) and not real.is_symlink() and not no_recursion:
        for child in sorted(fsutil.listdir(ctx, node_abs)):
            entries.extend(_tar_walk(ctx, posixpath.join(node_abs, child),
                                     posixpath.join(stored, child) if stored not in ("", ".") else child,
                                     no_recursion))
    return entries


def _tar_info(ctx: Context, node_abs: str, name: str) -> tarfile.TarInfo | None:
    try:
        st = fsutil.lstat(ctx, node_abs)
    except OSError:
        return None
    info = tarfile.TarInfo(name)
    info.mode = stat_mod.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uname, info.gname = fsutil.get_owner(ctx, node_abs)
    info.uid, info.gid = fsutil.account_ids(info.uname)[0], fsutil.account_ids(info.gname)[1]
    if stat_mod.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.name = name.rstrip("/") + "/" if name not in ("", ".") else "./"
    elif stat_mod.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = fsutil.read_symlink(ctx, node_abs)
    elif stat_mod.S_ISREG(st.st_mode):
        info.size = st.st_size
    else:
        return None
    return info


def _safe_name(name: str) -> str | None:
    """A member name as GNU tar extracts it: no leading '/', no '..' component."""
    cleaned = name.lstrip("/")
    if any(part == ".." for part in cleaned.split("/")):
        return None
    return cleaned


async def _tar_read(ctx: Context, parsed: opts.Parsed, archive: str, mode: str,
                    state: dict[str, bool]) -> None:
    if archive == "-":
        data = await ctx.read_stdin()
    else:
        try:
            data = fsutil.read_bytes(ctx, archive, "tar")
        except CommandError:
            raise _TarFail(f"{archive}: Cannot open: No such file or directory") from None
    await asyncio.to_thread(_tar_unpack, ctx, parsed, data, mode, state)


def _tar_unpack(ctx: Context, parsed: opts.Parsed, data: bytes, mode: str,
                state: dict[str, bool]) -> None:
    try:
        handle = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115  closed below
    except (tarfile.TarError, EOFError, zlib.error, OSError):
        if not data:
            return  # GNU tar accepts an empty archive
        raise _TarFail("This does not look like a tar archive") from None
    directory = parsed.value("-C", "--directory")
    base = ctx.abspath(directory) if directory else ctx.cwd
    if mode == "x" and directory and not fsutil.is_dir(ctx, base):
        raise _TarFail(f"{directory}: Cannot open: No such file or directory")
    strip = int(parsed.value("--strip-components", default="0") or 0)
    wanted = [w.rstrip("/") for w in parsed.args]
    excludes = parsed.values("--exclude")
    verbose = parsed.has("-v", "--verbose")
    seen: set[str] = set()
    with handle:
        try:
            members = handle.getmembers()
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise _TarFail(f"Unexpected EOF in archive ({exc})") from None
        for info in members:
            name = info.name
            plain = name.rstrip("/")
            if wanted:
                match = next((w for w in wanted if plain == w or plain.startswith(w + "/")), None)
                if match is None:
                    continue
                seen.add(match)
            if _excluded(name, excludes):
                continue
            if mode == "t":
                ctx.out(_tar_listing(info, verbose))
                continue
            if verbose:
                ctx.out(name + "\n")
            _tar_extract_one(ctx, handle, info, base, strip, parsed, state)
    for w in wanted:
        if w not in seen:
            ctx.err(f"tar: {w}: Not found in archive\n")
            state["failed"] = True


def _tar_listing(info: tarfile.TarInfo, verbose: bool) -> str:
    name = info.name + ("/" if info.isdir() and not info.name.endswith("/") else "")
    if not verbose:
        return name + "\n"
    kind = "d" if info.isdir() else ("l" if info.issym() else ("h" if info.islnk() else "-"))
    mode = kind + stat_mod.filemode(info.mode)[1:]
    owner = f"{info.uname or info.uid}/{info.gname or info.gid}"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.mtime))
    link = f" -> {info.linkname}" if info.issym() else (f" link to {info.linkname}" if info.islnk() else "")
    return f"{mode} {owner} {info.size:>8} {when} {name}{link}\n"


def _tar_extract_one(ctx: Context, handle: tarfile.TarFile, info: tarfile.TarInfo, base: str,
                           strip: int, parsed: opts.Parsed, state: dict[str, bool]) -> None:
    name = _safe_name(info.name)
    if name is None:
        ctx.err(f"tar: {info.name}: Member name contains '..'\n")
        state["failed"] = True
        return
    parts = [p for p in name.split("/") if p and p != "."]
    if strip:
        parts = parts[strip:]
    if not parts:
        return
    node_abs = posixpath.join(base, *parts)
    if parsed.has("-O", "--to-stdout"):
        if info.isreg():
            extracted = handle.extractfile(info)
            ctx.out(extracted.read() if extracted else b"")
        return
    real = ctx.path(node_abs)
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        if info.isdir():
            if os.path.lexists(real) and not real.is_dir():
                real.unlink()
            real.mkdir(exist_ok=True)
            os.chmod(real, info.mode)
            _restore_owner(ctx, node_abs, info)
            return
        if parsed.has("-k", "--keep-old-files") and os.path.lexists(real):
            ctx.err(f"tar: {name}: Cannot open: File exists\n")
            state["failed"] = True
            return
        if os.path.lexists(real) and not real.is_dir():
            real.unlink()
        if info.issym():
            fsutil.make_symlink(ctx, info.linkname, node_abs)
            return
        if info.islnk():
            source = _safe_name(info.linkname)
            if source is None:
                raise OSError(1, "Operation not permitted")
            os.link(ctx.path(posixpath.join(base, source)), real)
            return
        if not info.isreg():
            return  # devices and fifos are not made in the lab
        extracted = handle.extractfile(info)
        real.write_bytes(extracted.read() if extracted else b"")
        os.chmod(real, info.mode)
        _restore_owner(ctx, node_abs, info)
        os.utime(real, (info.mtime, info.mtime))
    except OSError as exc:
        ctx.err(f"tar: {name}: Cannot open: {fsutil.strerror(exc)}\n")
        state["failed"] = True


def _restore_owner(ctx: Context, node_abs: str, info: tarfile.TarInfo) -> None:
    """root's tar restores owners by name when the node has the account (--same-owner)."""
    user = fsutil.account_name(ctx, info.uname or str(info.uid)) or "root"
    group = fsutil.account_name(ctx, info.gname or str(info.gid), group=True) or "root"
    fsutil.set_owner(ctx, node_abs, user, group)


# --------------------------------------------------------------------------- gzip


def _gunzip(data: bytes) -> bytes:
    return gzip_mod.decompress(data)


@command("gzip", "gunzip", "zcat")
async def gzip(ctx: Context, argv: list[str]) -> int:
    prog = posixpath.basename(argv[0])
    parsed = opts.parse(argv, "cdfkhlnNqrtvS:123456789",
                        ("stdout", "to-stdout", "decompress", "uncompress", "force", "keep",
                         "list", "no-name", "name", "quiet", "recursive", "test", "verbose",
                         "suffix=", "fast", "best", "rsyncable"))
    has = parsed.has
    decompress = prog in ("gunzip", "zcat") or has("-d", "--decompress", "--uncompress")
    to_stdout = prog == "zcat" or has("-c", "--stdout", "--to-stdout")
    test = has("-t", "--test")
    level = 6
    for name, _ in parsed.opts:
        if re.fullmatch(r"-\d", name):
            level = int(name[1:])
        elif name == "--fast":
            level = 1
        elif name == "--best":
            level = 9
    suffix = parsed.value("-S", "--suffix", default=".gz") or ".gz"
    quiet = has("-q", "--quiet")
    status = 0
    for name in parsed.args or ["-"]:
        if name == "-":
            data = await ctx.read_stdin()
            if decompress or test:
                try:
                    result = await asyncio.to_thread(_gunzip, data)
                except (OSError, EOFError, zlib.error):
                    if not quiet:
                        ctx.err(f"{prog}: stdin: not in gzip format\n")
                    status = 1
                    continue
                if not test:
                    ctx.out(result)
            else:
                ctx.out(await asyncio.to_thread(gzip_mod.compress, data, level, mtime=0))
            continue
        status = max(status, await _gzip_file(ctx, prog, name, decompress, to_stdout, test, level,
                                              suffix, has("-k", "--keep"), has("-f", "--force"),
                                              quiet))
    return status


async def _gzip_file(ctx: Context, prog: str, name: str, decompress: bool, to_stdout: bool,
                     test: bool, level: int, suffix: str, keep: bool, force: bool,
                     quiet: bool) -> int:
    source = name
    if decompress and not fsutil.exists(ctx, source) and fsutil.exists(ctx, source + suffix):
        source = source + suffix
    if not fsutil.exists(ctx, source):
        ctx.err(f"{prog}: {name}: No such file or directory\n")
        return 1
    if fsutil.is_dir(ctx, source):
        ctx.err(f"{prog}: {name} is a directory -- ignored\n")
        return 2
    data = fsutil.read_bytes(ctx, source, prog)
    real = ctx.path(source)
    if decompress or test:
        if not to_stdout and not test and not source.endswith(suffix) and not source.endswith(".tgz"):
            ctx.err(f"{prog}: {name}: unknown suffix -- ignored\n")
            return 2
        try:
            result = await asyncio.to_thread(_gunzip, data)
        except (OSError, EOFError, zlib.error):
            if not quiet:
                ctx.err(f"{prog}: {source}: not in gzip format\n")
            return 1
        if test:
            return 0
        if to_stdout:
            ctx.out(result)
            return 0
        target = source[: -len(suffix)] if source.endswith(suffix) else source[:-4] + ".tar"
    else:
        if source.endswith(suffix) and not to_stdout and not force:
            ctx.err(f"{prog}: {source} already has {suffix} suffix -- unchanged\n")
            return 2
        mtime = int(real.stat().st_mtime)
        result = await asyncio.to_thread(gzip_mod.compress, data, level, mtime=mtime)
        if to_stdout:
            ctx.out(result)
            return 0
        target = source + suffix
    if fsutil.exists(ctx, target) and not force:
        ctx.err(f"{prog}: {target} already exists; not overwritten\n")
        return 2
    fsutil.write_bytes(ctx, target, result, prog)
    target_real = ctx.path(target)
    os.chmod(target_real, stat_mod.S_IMODE(real.stat().st_mode))
    if not keep:
        real.unlink()
    return 0
