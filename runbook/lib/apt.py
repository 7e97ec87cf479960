"""Debian packages on a node: installed versions (dpkg-query), repositories and `apt-get install`.

`install` keeps the node's configuration files (`--force-confold`): a package
upgrade must not replace a nova.conf that deployment wrote and the upgrade
edits. Every call has a timeout; an install may take minutes on hardware.
"""

from __future__ import annotations

import posixpath
import shlex

from runbook.errors import OctaneError
from runbook.lib.ssh import SSHPool

TIMEOUT = 120.0
INSTALL_TIMEOUT = 1800.0
SOURCES_D = "/etc/apt/sources.list.d"
FIX_APT = "read apt-get's error on the node (repositories reachable from the node, disk space, dpkg lock)"


def versions(pool: SSHPool, node: str, names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """{package: installed version} of those of `names` that are installed."""
    quoted = " ".join(shlex.quote(n) for n in names)
    result = pool.run(node, f"dpkg-query -W -f '${{Package}}\\t${{Version}}\\n' {quoted}", timeout=TIMEOUT)
    found = {}
    for line in result.stdout.splitlines():
        name, _, version = line.partition("\t")
        if name in names and version:
            found[name] = version
    return found


def add_source(pool: SSHPool, node: str, name: str, line: str) -> bool:
    """A `sources.list.d/<name>.list` holding `line`; False when it already did."""
    if "/" in name or not name:
        raise OctaneError(f"{name!r} is not a plain sources.list.d file name", "pass a name without '/'")
    path = posixpath.join(SOURCES_D, f"{name}.list")
    wanted = line.rstrip("\n") + "\n"
    if pool.run(node, f"test -f {shlex.quote(path)}", timeout=TIMEOUT).ok and pool.read_text(node, path) == wanted:
        return False
    pool.write_text(node, path, wanted, mode=0o644)
    return True


def remove_source(pool: SSHPool, node: str, name: str) -> bool:
    """Remove `sources.list.d/<name>.list`; False when there was none."""
    if "/" in name or not name:
        raise OctaneError(f"{name!r} is not a plain sources.list.d file name", "pass a name without '/'")
    path = shlex.quote(posixpath.join(SOURCES_D, f"{name}.list"))
    if not pool.run(node, f"test -f {path}", timeout=TIMEOUT).ok:
        return False
    pool.check(node, f"rm -f {path}", timeout=TIMEOUT, fix=f"remove {path} on {node} by hand")
    return True


def update(pool: SSHPool, node: str, *, timeout: float = INSTALL_TIMEOUT) -> None:
    pool.check(node, "apt-get update", timeout=timeout, fix=FIX_APT)


def install(pool: SSHPool, node: str, names: list[str] | tuple[str, ...], *,
            timeout: float = INSTALL_TIMEOUT, downgrade: bool = False) -> str:
    """`apt-get install -y` the candidates of `names` (or `name=version`), configuration files kept;
    apt's output. `downgrade`: an older version than the installed one is wanted (a rollback), which
    apt 1.0 does only with --force-yes."""
    if not names:
        return ""
    quoted = " ".join(shlex.quote(n) for n in names)
    force = " --force-yes" if downgrade else ""
    return pool.check(node, f"apt-get install -y{force} -o Dpkg::Options::=--force-confold {quoted}",
                      timeout=timeout, fix=FIX_APT).stdout
