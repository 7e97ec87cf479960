"""The node's filesystem as commands see it: paths, listings, reads, writes, links.

Node paths map onto the lab's folders through `Context.path` (mount points
first). Directory listings add mount points that have no folder in the rootfs,
as a real mount table would. Symbolic links are stored as real links whose
target is rewritten to stay inside the lab's folders (a node-absolute target
`/etc/x` would otherwise point at the lab host's own /etc); `readlink` turns
them back into node paths. `/dev/null`, `/dev/zero` and `/dev/std*` are the
only device files.
"""

from __future__ import annotations

import os
import posixpath
import stat as stat_mod
from pathlib import Path

from fuellab.node.context import CommandError, Context, node_path, node_visible_path

# Prefix of link targets translated from node-absolute paths; "./" repeated is still a valid
# relative path for the lab host, and nobody writes it by hand.
TRANSLATED = "./././"
DEVICES = {"/dev/null", "/dev/zero", "/dev/stdin", "/dev/stdout", "/dev/stderr"}


def strerror(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def real(ctx: Context, path: str) -> Path:
    return ctx.path(path)


def visible(ctx: Context, real_path: Path) -> str | None:
    return node_visible_path(ctx.lab, ctx.node, real_path)


def mount_children(ctx: Context, abspath: str) -> list[str]:
    """Names of mount points directly below `abspath` (they exist even without a folder)."""
    prefix = abspath.rstrip("/") + "/"
    names = []
    for mountpoint in ctx.node.mounts:
        if mountpoint.startswith(prefix):
            rest = mountpoint[len(prefix) :]
            names.append(rest.split("/", 1)[0])
    return names


def is_mount_ancestor(ctx: Context, abspath: str) -> bool:
    prefix = abspath.rstrip("/") + "/"
    return any(m.startswith(prefix) or m == abspath for m in ctx.node.mounts)


def exists(ctx: Context, path: str, follow: bool = True) -> bool:
    abspath = ctx.abspath(path)
    if abspath in DEVICES:
        return True
    target = ctx.path(abspath)
    if (target.exists() if follow else os.path.lexists(target)):
        return True
    return is_mount_ancestor(ctx, abspath)


def is_dir(ctx: Context, path: str) -> bool:
    abspath = ctx.abspath(path)
    return ctx.path(abspath).is_dir() or is_mount_ancestor(ctx, abspath)


def listdir(ctx: Context, path: str) -> list[str]:
    """Entry names of a node directory (unsorted), mount points included."""
    abspath = ctx.abspath(path)
    target = ctx.path(abspath)
    names: set[str] = set()
    try:
        names.update(os.listdir(target))
    except FileNotFoundError:
        if not is_mount_ancestor(ctx, abspath):
            raise
    names.update(mount_children(ctx, abspath))
    names.discard(".fuellab-tmp")
    return list(names)


def lstat(ctx: Context, path: str) -> os.stat_result:
    """lstat of a node path; a mount point without a folder stats as its parent folder would."""
    abspath = ctx.abspath(path)
    target = ctx.path(abspath)
    try:
        return os.lstat(target)
    except FileNotFoundError:
        if is_mount_ancestor(ctx, abspath):
            target.mkdir(parents=True, exist_ok=True)  # materialise the mount point folder
            return os.lstat(target)
        raise


def stat(ctx: Context, path: str, follow: bool = True) -> os.stat_result:
    if not follow:
        return lstat(ctx, path)
    abspath = ctx.abspath(path)
    try:
        return os.stat(ctx.path(abspath))
    except FileNotFoundError:
        if os.path.lexists(ctx.path(abspath)):
            raise
        return lstat(ctx, path)


def read_bytes(ctx: Context, path: str, prog: str) -> bytes:
    """A file's content, or a CommandError worded as coreutils words it."""
    abspath = ctx.abspath(path)
    if abspath in ("/dev/null",):
        return b""
    target = ctx.path(abspath)
    try:
        if target.is_dir() or (not target.exists() and is_mount_ancestor(ctx, abspath)):
            raise CommandError(f"{prog}: {path}: Is a directory")
        return target.read_bytes()
    except OSError as exc:
        raise CommandError(f"{prog}: {path}: {strerror(exc)}") from None


def write_bytes(ctx: Context, path: str, data: bytes, prog: str, append: bool = False) -> None:
    abspath = ctx.abspath(path)
    if abspath == "/dev/null":
        return
    target = ctx.path(abspath)
    try:
        if target.is_dir():
            raise CommandError(f"{prog}: {path}: Is a directory")
        with open(target, "ab" if append else "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise CommandError(f"{prog}: {path}: {strerror(exc)}") from None


def mode_string(mode: int) -> str:
    return stat_mod.filemode(mode)


def file_type(mode: int, size: int = 1) -> str:
    """The words `stat %F` prints."""
    if stat_mod.S_ISDIR(mode):
        return "directory"
    if stat_mod.S_ISLNK(mode):
        return "symbolic link"
    if stat_mod.S_ISREG(mode):
        return "regular file" if size else "regular empty file"
    if stat_mod.S_ISFIFO(mode):
        return "fifo"
    if stat_mod.S_ISSOCK(mode):
        return "socket"
    if stat_mod.S_ISCHR(mode):
        return "character special file"
    return "unknown"


# --------------------------------------------------------------------------- links


def make_symlink(ctx: Context, target: str, link: str) -> None:
    """Create `link` pointing at node path `target`, stored so the lab host resolves it inside
    the node: an absolute target becomes a path relative to the link's real folder."""
    link_real = ctx.path(link)
    link_dir = posixpath.dirname(ctx.abspath(link))
    resolved = posixpath.normpath(posixpath.join(link_dir, target))  # clamps at the node's /
    real_target = node_path(ctx.lab, ctx.node, resolved)
    if not target.startswith("/") and Path(os.path.normpath(link_real.parent / target)) == real_target:
        host_target = target  # a relative link that stays inside the node as it is
    else:
        # absolute, or climbing out of the node or across a mount: anchor it in the lab
        host_target = TRANSLATED + os.path.relpath(real_target, link_real.parent)
    os.symlink(host_target, link_real)


def read_symlink(ctx: Context, link: str) -> str:
    """The node-side target of a link: an absolute node path when it was stored translated."""
    link_real = ctx.path(link)
    host_target = os.readlink(link_real)
    if host_target.startswith("/"):  # made by the SFTP server, which maps the target to the lab
        shown = visible(ctx, Path(host_target))
        return shown if shown is not None else host_target
    if not host_target.startswith(TRANSLATED):
        return host_target
    joined = Path(os.path.normpath(os.path.join(link_real.parent, host_target)))
    shown = visible(ctx, joined)
    return shown if shown is not None else host_target


def canonical(ctx: Context, path: str, must_exist: bool = True) -> str | None:
    """`readlink -f`: the node path with every link resolved (None when a part is missing)."""
    abspath = ctx.abspath(path)
    parts = [p for p in abspath.split("/") if p]
    resolved = "/"
    hops = 0
    while parts:
        name = parts.pop(0)
        candidate = posixpath.join(resolved, name)
        target = ctx.path(candidate)
        if os.path.islink(target):
            hops += 1
            if hops > 40:
                return None
            dest = read_symlink(ctx, candidate)
            base = "/" if dest.startswith("/") else resolved
            parts = [p for p in posixpath.normpath(posixpath.join(base, dest)).split("/") if p] + parts
            resolved = "/"
            continue
        if not exists(ctx, candidate, follow=False) and (must_exist or parts):
            return None
        resolved = candidate
    return resolved


# --------------------------------------------------------------------------- owners

# The lab's files all belong to the lab's one host user; a node's owner (chown) is kept
# in an extended attribute that travels with the file on rename and is dropped by a
# plain copy, as a copy by root would be owned by root. Absent: root:root.
OWNER_XATTR = "user.fuellab.owner"


def get_owner(ctx: Context, path: str, follow: bool = False) -> tuple[str, str]:
    try:
        raw = os.getxattr(ctx.path(path), OWNER_XATTR, follow_symlinks=follow)
    except OSError:
        return "root", "root"
    user, _, group = raw.decode(errors="replace").partition(":")
    return user or "root", group or "root"


def set_owner(ctx: Context, path: str, user: str, group: str) -> None:
    """Record the owner; root:root removes the record. OSError when the lab's filesystem
    cannot hold it (then chown fails rather than pretending)."""
    target = ctx.path(path)  # a link's target, as chown follows links
    if (user, group) == ("root", "root"):
        try:
            os.removexattr(target, OWNER_XATTR)
        except OSError as exc:
            if exc.errno not in (61, 95):  # ENODATA: nothing recorded; ENOTSUP
                raise
        return
    os.setxattr(target, OWNER_XATTR, f"{user}:{group}".encode())


def account_ids(name: str) -> tuple[int, int]:
    """(uid, gid) of a node account name; root when unknown."""
    from fuellab.node.commands.system import SYSTEM_USERS

    uid, gid, _ = SYSTEM_USERS.get(name, (0, 0, ""))
    return uid, gid


def account_name(ctx: Context, spec: str, group: bool = False) -> str | None:
    """The account a chown spec names (a name or a number), if it exists on the node."""
    from fuellab.node.commands.system import SYSTEM_USERS, user_exists

    if spec.isdigit():
        number = int(spec)
        spec = next((n for n, ids in SYSTEM_USERS.items() if ids[1 if group else 0] == number), "")
    return spec if spec and user_exists(ctx, spec) else None
