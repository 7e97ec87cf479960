"""HAProxy maintenance modes on a controller.

"read-only": every HTTP API proxy in /etc/haproxy/conf.d except keystone's
sends non-GET requests to `backend maintenance` (no servers -> 503); GET and
HEAD keep working, and keystone keeps issuing tokens so GETs can authenticate.
`allow` lets chosen non-GET paths through read-only mode (`!{ path_sub ... }`):
admin-only calls an upgrade must still make, which tenants cannot.
"normal": exactly the lines "read-only" added are removed. Every added line
carries MARK so removal never touches the operator's own configuration.
HAProxy reads its configuration only when it starts: `restart` through
pacemaker makes a mode take effect.
"""

from __future__ import annotations

import posixpath
import shlex

from runbook.errors import OctaneError
from runbook.lib import pacemaker
from runbook.lib.ssh import SSHPool

MAIN = "/etc/haproxy/haproxy.cfg"
CONF_D = "/etc/haproxy/conf.d"
MARK = "# octane:read-only"
RULE = f"  use_backend maintenance if !METH_GET  {MARK}"
BACKEND = f"backend maintenance  {MARK}\n"
MODES = ("read-only", "normal")
RESOURCE = "p_haproxy"


def _strip(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if MARK not in line)


def _rule(allow: tuple[str, ...]) -> str:
    """RULE, with the `allow`ed paths exempted from the maintenance backend."""
    if not allow:
        return RULE
    head = RULE.partition(MARK)[0].rstrip()
    return head + "".join(f" !{{ path_sub {path} }}" for path in allow) + f"  {MARK}"


def _read_only_proxy(text: str, rule: str | None = None) -> str:
    """Add RULE (or `rule`) after each HTTP `listen`/`frontend` line that is not keystone's."""
    lines = _strip(text).splitlines(keepends=True)
    # A section starts at a line that is neither indented, blank nor a comment.
    starts = [i for i, line in enumerate(lines)
              if line.strip() and not line[0].isspace() and not line.startswith("#")]
    out = lines[:starts[0]] if starts else lines
    for k, first in enumerate(starts):
        section = lines[first:starts[k + 1] if k + 1 < len(starts) else len(lines)]
        words = section[0].split()
        tcp = any(line.split()[:2] == ["mode", "tcp"] for line in section[1:])
        if words[0] in ("listen", "frontend") and len(words) > 1 and not tcp \
                and not words[1].startswith("keystone"):
            section.insert(1, (rule or RULE) + "\n")
        out += section
    return "".join(out)


def _proxy_files(pool: SSHPool, node: str) -> list[str]:
    out = pool.check(node, f"ls -1 {shlex.quote(CONF_D)}", timeout=30).stdout
    return [posixpath.join(CONF_D, name) for name in out.split() if name.endswith(".cfg")]


def set_mode(pool: SSHPool, node: str, mode: str, allow: tuple[str, ...] = ()) -> list[str]:
    """Write `mode` into the node's HAProxy files (atomic per file); the files that changed.

    Idempotent: setting the mode already written changes nothing. Takes effect on `restart`.
    `allow`: paths (substrings) whose non-GET requests read-only mode still forwards."""
    if mode not in MODES:
        raise OctaneError(f"unknown HAProxy mode {mode!r}", f"use one of {', '.join(MODES)}")
    if any(not path or any(c.isspace() or c in "{}" for c in path) for path in allow):
        raise OctaneError(f"HAProxy paths to allow must be plain words: {allow}", "pass paths like /l3-routers")
    rule = _rule(allow)
    changed: list[str] = []
    for path in _proxy_files(pool, node):
        if pool.edit(node, path, (lambda text: _read_only_proxy(text, rule)) if mode == "read-only" else _strip):
            changed.append(path)

    def main(text: str) -> str:
        text = _strip(text)
        if mode == "read-only":
            text += ("" if text.endswith("\n") or not text else "\n") + BACKEND
        return text

    if pool.edit(node, MAIN, main):
        changed.append(MAIN)
    return changed


def current_mode(pool: SSHPool, node: str) -> str:
    """The mode written on the node ("read-only" when the maintenance backend is there)."""
    return "read-only" if MARK in pool.read_text(node, MAIN) else "normal"


def restart(pool: SSHPool, node: str) -> None:
    """Restart the haproxy clone so every controller reloads its files."""
    pacemaker.resource_restart(pool, node, RESOURCE)
