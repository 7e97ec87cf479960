"""MySQL/Galera on a controller: databases, row counts, read-only, dump/restore, schema versions.

Every call goes through `mysql -N -B` on the node; the client reads root's
password from /root/.my.cnf, so no secret ever appears in argv. Results are
plain data: lists, dicts, ints/strings.
"""

from __future__ import annotations

import re
import shlex

from runbook.errors import OctaneError, RemoteError
from runbook.lib.ssh import SSHPool

SQL_TIMEOUT = 60.0
DUMP_TIMEOUT = 3600.0
SYNC_TIMEOUT = 1800.0
FIX_MYSQL = "check that MySQL runs on the node (crm status p_mysql) and /root/.my.cnf holds root's password"

# (version command, sync command) per service, as each project's tool spells them.
TOOLS: dict[str, tuple[str, str]] = {
    "nova": ("nova-manage db version", "nova-manage db sync"),
    "keystone": ("keystone-manage db_version", "keystone-manage db_sync"),
    "cinder": ("cinder-manage db version", "cinder-manage db sync"),
    "glance": ("glance-manage db_version", "glance-manage db_sync"),
    "heat": ("heat-manage db_version", "heat-manage db_sync"),
    "neutron": ("neutron-db-manage --config-file=/etc/neutron/neutron.conf current",
                "neutron-db-manage --config-file=/etc/neutron/neutron.conf upgrade head"),
}
_NAME = re.compile(r"^[A-Za-z0-9_$]+$")


def query(pool: SSHPool, node: str, sql: str, *, timeout: float = SQL_TIMEOUT) -> list[list[str]]:
    """Rows of a batch-mode `mysql` query (tab-separated, no header)."""
    result = pool.check(node, f"mysql -N -B -e {shlex.quote(sql)}", timeout=timeout, fix=FIX_MYSQL)
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise OctaneError(f"{name!r} is not a plain database or table name", "pass a plain identifier")
    return f"`{name}`"


def databases(pool: SSHPool, node: str) -> list[str]:
    return [row[0] for row in query(pool, node, "SHOW DATABASES")]


def row_counts(pool: SSHPool, node: str, db: str) -> dict[str, int]:
    """Exact `COUNT(*)` of every table of `db` (information_schema's table_rows is an estimate)."""
    tables = [row[0] for row in query(pool, node, f"SHOW TABLES FROM {_ident(db)}")]
    if not tables:
        return {}
    sql = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {_ident(db)}.{_ident(t)}" for t in tables)
    return {name: int(count) for name, count in query(pool, node, sql)}


def sizes(pool: SSHPool, node: str, dbs: list[str]) -> dict[str, dict[str, int]]:
    """{db: {"tables", "rows", "bytes"}} from information_schema: InnoDB's own estimates (rows
    approximate, bytes = data + index pages), read without scanning a table; for planning, not
    for proving (row_counts does that)."""
    if not dbs:
        return {}
    names = ", ".join(f"'{_ident(name)[1:-1]}'" for name in dbs)
    sql = ("SELECT TABLE_SCHEMA, COUNT(*), COALESCE(SUM(TABLE_ROWS), 0), "
           "COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
           f"WHERE TABLE_SCHEMA IN ({names}) GROUP BY TABLE_SCHEMA")
    return {row[0]: {"tables": int(row[1]), "rows": int(row[2]), "bytes": int(row[3])}
            for row in query(pool, node, sql)}


def set_read_only(pool: SSHPool, node: str, on: bool) -> None:
    query(pool, node, f"SET GLOBAL read_only={'ON' if on else 'OFF'}")


def read_only(pool: SSHPool, node: str) -> bool:
    rows = query(pool, node, "SHOW GLOBAL VARIABLES LIKE 'read_only'")
    return bool(rows) and rows[0][1].upper() in ("ON", "1")


def wsrep_status(pool: SSHPool, node: str) -> dict[str, str]:
    return {row[0]: row[1] if len(row) > 1 else "" for row in query(pool, node, "SHOW STATUS LIKE 'wsrep_%'")}


def _tool(service: str) -> tuple[str, str]:
    if service not in TOOLS:
        raise OctaneError(f"no schema tool known for service {service!r}", f"use one of {', '.join(TOOLS)}")
    return TOOLS[service]


def schema_version(pool: SSHPool, node: str, service: str) -> int | str:
    """The service's schema version: an int (sqlalchemy-migrate) or neutron's alembic revision."""
    command = _tool(service)[0]
    out = pool.check(node, command, timeout=SQL_TIMEOUT,
                     fix=f"check {service}'s database connection in its config on {node}").stdout.split()
    if not out:
        raise RemoteError(node, command, 0, "printed no version",
                          f"the {service} database is not under version control: sync or stamp it")
    return out[0] if service == "neutron" else int(out[0])


def db_sync(pool: SSHPool, node: str, service: str, *, timeout: float = SYNC_TIMEOUT) -> None:
    pool.check(node, _tool(service)[1], timeout=timeout,
               fix=f"read {service}'s migration error above, fix the database or the config, then re-run")


def dump(pool: SSHPool, node: str, dbs: list[str], path: str, *, timeout: float = DUMP_TIMEOUT) -> None:
    """A gzipped `mysqldump` of `dbs` at `path`, mode 0600 (a dump holds every service's secrets);
    pipefail so a failing mysqldump is not hidden by gzip."""
    if not dbs:
        raise OctaneError("no database to dump", "name at least one database")
    names = " ".join(shlex.quote(d) for d in dbs)
    quoted = shlex.quote(path)
    # The file exists, private, before a byte is written: `>` keeps an existing file's mode.
    command = (f"touch {quoted} && chmod 600 {quoted} && set -o pipefail && "
               f"mysqldump --add-drop-database --lock-all-tables --databases {names} | gzip > {quoted}")
    pool.check(node, command, timeout=timeout,
               fix="the dump is incomplete: fix the cause in mysqldump's error and dump again")


def restore(pool: SSHPool, node: str, path: str, *, timeout: float = DUMP_TIMEOUT) -> None:
    pool.check(node, f"set -o pipefail; zcat {shlex.quote(path)} | mysql", timeout=timeout,
               fix="check the dump file and MySQL on the node, then restore again")


def renaming_sed(prefix: str) -> str:
    """A `sed -E` program giving every database of a `mysqldump --databases` stream the name
    `<prefix><name>`: the only lines naming a database are its DROP DATABASE, CREATE DATABASE
    and USE statements (tables are unqualified; data lines start with INSERT or LOCK)."""
    if not _NAME.match(prefix):
        raise OctaneError(f"{prefix!r} is not a plain database name prefix", "pass letters, digits and _")
    return ("s#^(/\\*!40000 DROP DATABASE IF EXISTS |CREATE DATABASE [^`]*|USE )`([A-Za-z0-9_$]+)`#"
            f"\\1`{prefix}\\2`#")


def restore_renamed(pool: SSHPool, node: str, path: str, prefix: str, *, timeout: float = DUMP_TIMEOUT) -> None:
    """Restore a dump into databases named `<prefix><name>` (scratch copies), leaving the real ones alone."""
    command = (f"set -o pipefail; zcat {shlex.quote(path)} | sed -E -e {shlex.quote(renaming_sed(prefix))}"
               " | mysql")
    pool.check(node, command, timeout=timeout,
               fix="check the dump file and MySQL on the node (its disk space), then test-restore again")


def drop_database(pool: SSHPool, node: str, name: str) -> None:
    """`DROP DATABASE IF EXISTS`: idempotent."""
    query(pool, node, f"DROP DATABASE IF EXISTS {_ident(name)}")
