"""Where keystone keeps its UUID tokens: the SQL `token` table, or the env's memcached.

Keystone's token persistence is its `[token] driver` (keystone.conf of the
node serving the request): the default (no driver, or `...backends.sql.Token`)
stores tokens as rows of the keystone database, so they travel with a dump and
issuing one is a database write, refused while the server is read-only; a
memcache driver (`...backends.memcache_pool.Token`, `...backends.memcache.Token`,
what Fuel 6.1 and 7.0 deploy, see fuellab.configs) keeps them in the env's
memcached ring instead: issuing one writes nothing to MySQL, so keystone keeps
issuing tokens while the databases are read-only (stage 3's maintenance), and
tokens neither travel with a dump nor survive the memcached processes (here:
the lab process) going away.

The ring is one per env (every controller of an env lists all of the env's
memcached servers); the lab does not model the servers' own liveness.
"""

from __future__ import annotations

import configparser
import json
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

from fuellab.node.context import node_path

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.openstack.common import Ctx
    from fuellab.world import Node

KEYSTONE_CONF = "/etc/keystone/keystone.conf"
SQL, MEMCACHE = "sql", "memcache"

_drivers: dict[tuple[str, int], tuple[tuple[int, int], str]] = {}
_rings: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
_lock = threading.Lock()


def persistence(lab: Lab, node: Node) -> str:
    """SQL or MEMCACHE, from the node's keystone.conf `[token] driver` (re-read when the file changes)."""
    path = node_path(lab, node, KEYSTONE_CONF)
    try:
        st = path.stat()
    except OSError:
        return SQL
    key = (str(lab.dir), node.id)
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _drivers.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(path.read_text())
        driver = parser.get("token", "driver", fallback="")
    except (OSError, configparser.Error):
        driver = ""
    found = MEMCACHE if "memcache" in driver.lower() else SQL
    _drivers[key] = (stamp, found)
    return found


def _ring(lab: Lab, cluster_id: int) -> dict[str, dict[str, Any]]:
    with _lock:
        return _rings.setdefault((str(lab.dir), cluster_id), {})


def save(ctx: Ctx, token_id: str, extra: dict[str, Any], user_id: str, expires: str) -> None:
    """Keep a new token where the serving keystone keeps them."""
    if persistence(ctx.lab, ctx.node) == MEMCACHE:
        with _lock:
            _rings.setdefault((str(ctx.lab.dir), ctx.binding.cluster_id), {})[token_id] = dict(extra)
        return
    # Tokens are not tenant data: not counted as the service's writes.
    with ctx.write(count=0) as conn:
        conn.execute("INSERT INTO token (id, expires, extra, valid, user_id) VALUES (?, ?, ?, 1, ?)",
                     (token_id, expires, json.dumps(extra), user_id))


def find(ctx: Ctx, conn: sqlite3.Connection, token_id: str | None) -> dict[str, Any] | None:
    """A token's data (`extra`) wherever the serving keystone keeps it, valid or not; None: unknown."""
    if not token_id:
        return None
    if persistence(ctx.lab, ctx.node) == MEMCACHE:
        found = _ring(ctx.lab, ctx.binding.cluster_id).get(token_id)
        return dict(found) if found is not None else None
    try:
        row = conn.execute("SELECT * FROM token WHERE id = ?", (token_id,)).fetchone()
    except sqlite3.OperationalError:
        return None
    if row is None or not row["valid"]:
        return None
    return json.loads(row["extra"] or "{}")


def revoke(ctx: Ctx, token_id: str) -> None:
    if persistence(ctx.lab, ctx.node) == MEMCACHE:
        _ring(ctx.lab, ctx.binding.cluster_id).pop(token_id, None)
        return
    with ctx.write(count=0) as conn:
        conn.execute("UPDATE token SET valid = 0 WHERE id = ?", (token_id,))
