"""Dump the service databases to the master, and prove a dump restores, before trusting it.

One implementation for preflight's backup (stage 0: "DB backup taken and
test-restored") and upgrade-db's dump (stage 3):

- `take`: `mysqldump | gzip` (pipefail) on a controller into a private folder
  there, the per-table row counts just before and just after, the file
  fetched over SFTP to the master (0600), its sha256 checked on both ends,
  the controller's copy removed (it holds every service's password hashes).
- `restore_check` (the test-restore): the master's copy, checked against the recorded sha256,
  uploaded to a node, restored into scratch databases named
  `octane_check_<db>` (the dump stream's DROP/CREATE/USE lines renamed by
  `sed`, so the real databases are never touched: on an original controller
  that is what makes a test-restore possible at all), their row counts
  compared with the dump-time counts, then the scratch databases dropped.

Why row counts bracket the dump: `--lock-all-tables` freezes the tables for
the dump, but the counts are taken by separate queries; a table written in
between may hold any count between its "before" and "after". Where the
writers are stopped (upgrade-db) the two must be equal, and the caller
refuses a dump during which rows moved.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runbook.errors import OctaneError
from runbook.lib import db
from runbook.lib.ssh import SSHPool, local_sha256

SERVICES = ("nova", "keystone", "neutron", "cinder", "glance", "heat")
REMOTE_DIR = "/root/octane"  # on the nodes: root's, 0700
SCRATCH = "octane_check_"

Counts = dict[str, dict[str, int]]


class DumpError(OctaneError):
    """A dump could not be taken, fetched, or proved restorable."""


def service_databases(pool: SSHPool, node: str) -> list[str]:
    """The six service databases the node's MySQL has (SHOW DATABASES ∩ SERVICES), in SERVICES order."""
    have = set(db.databases(pool, node))
    return [name for name in SERVICES if name in have]


def row_counts(pool: SSHPool, node: str, dbs: Iterable[str], prefix: str = "") -> Counts:
    """{db: {table: rows}} of `prefix + db` for each db, keyed by the unprefixed name."""
    return {name: db.row_counts(pool, node, prefix + name) for name in dbs}


def remote_path(local: Path) -> str:
    return posixpath.join(REMOTE_DIR, local.name)


def _private_dir(pool: SSHPool, node: str) -> None:
    pool.check(node, f"mkdir -p -m 0700 {REMOTE_DIR} && chmod 0700 {REMOTE_DIR}", timeout=30,
               fix=f"check {REMOTE_DIR} and the root filesystem on {node}")


def _remove(pool: SSHPool, node: str, path: str) -> None:
    pool.check(node, f"rm -f {path}", timeout=30, fix=f"remove {path} on {node} by hand")


def fetch(pool: SSHPool, node: str, remote: str, local: Path) -> None:
    """SFTP `remote` to `local` through a private temporary file: never world-readable, never half-written."""
    tmp = local.with_name(f".{local.name}.{os.getpid()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    try:
        pool.get(node, remote, str(tmp))
        os.chmod(tmp, 0o600)
        os.replace(tmp, local)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def take(pool: SSHPool, node: str, dbs: list[str], local: Path) -> dict[str, Any]:
    """Dump `dbs` on `node` to `local` on the master; what the journal keeps about it."""
    if not dbs:
        raise DumpError(f"{node} has none of the service databases {', '.join(SERVICES)}",
                        "check that the node is a controller of the env and MySQL answers there")
    remote = remote_path(local)
    _private_dir(pool, node)
    before = row_counts(pool, node, dbs)
    try:
        db.dump(pool, node, dbs, remote)
        after = row_counts(pool, node, dbs)
        on_node = pool.sha256(node, remote, timeout=db.SQL_TIMEOUT)
        fetch(pool, node, remote, local)
    except BaseException:
        with contextlib.suppress(OctaneError):  # best effort: the first error is the one to report
            pool.run(node, f"rm -f {remote}", timeout=30)
        raise
    _remove(pool, node, remote)
    on_master = local_sha256(local)
    if on_master != on_node:
        local.unlink(missing_ok=True)
        raise DumpError(f"the dump fetched from {node} has sha256 {on_master}, {on_node} on the node",
                        "check the master's disk and the network, then dump again")
    return {"node": node, "dbs": dbs, "path": str(local), "sha256": on_master, "bytes": local.stat().st_size,
            "counts_before": before, "counts": after}


def moved(before: Counts, after: Counts) -> list[str]:
    """The tables whose row counts differ between two readings (`db.table before -> after`)."""
    out = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name, {}), after.get(name, {})
        out += [f"{name}.{t} {b.get(t)} -> {a.get(t)}" for t in sorted(set(b) | set(a)) if b.get(t) != a.get(t)]
    return out


def check_master_copy(record: dict[str, Any]) -> Path:
    """The master's copy of a recorded dump, refused unless it is private and has the recorded sha256."""
    local = Path(record["path"])
    if not local.is_file():
        raise DumpError(f"the dump {local} is missing on the master",
                        "restore it from a backup of the master (its sha256 is in the journal)")
    mode = local.stat().st_mode & 0o777
    if mode & 0o077:
        raise DumpError(f"the dump {local} is mode {mode:o}: others could read it",
                        f"chmod 600 {local} (and find out who changed it), then re-run")
    found = local_sha256(local)
    if found != record["sha256"]:
        raise DumpError(f"the dump {local} has sha256 {found}, not the {record['sha256']} recorded when it "
                        "was taken: it was changed or corrupted on the master",
                        "do not restore it; put back the original file (from a backup) or take a new dump")
    return local


def upload(pool: SSHPool, node: str, record: dict[str, Any]) -> str:
    """The recorded dump on `node` (uploaded from the master unless an intact copy is there); its path."""
    local = check_master_copy(record)
    remote = remote_path(local)
    _private_dir(pool, node)
    present = pool.run(node, f"test -f {remote}", timeout=30).ok
    if present and pool.sha256(node, remote, timeout=db.SQL_TIMEOUT) == record["sha256"]:
        return remote
    pool.put(node, str(local), remote, mode=0o600)
    found = pool.sha256(node, remote, timeout=db.SQL_TIMEOUT)
    if found != record["sha256"]:
        _remove(pool, node, remote)
        raise DumpError(f"the dump uploaded to {node} has sha256 {found}, not {record['sha256']}",
                        f"check {node}'s disk ({REMOTE_DIR}) and the network, then re-run")
    return remote


def discard(pool: SSHPool, node: str, record: dict[str, Any]) -> None:
    """Remove a node's copy of the dump (it holds the cloud's password hashes), and the folder once empty."""
    _remove(pool, node, remote_path(Path(record["path"])))
    pool.run(node, f"rmdir {REMOTE_DIR}", timeout=30)  # fails, harmlessly, while another dump is there


def compare(restored: Counts, low: Counts, high: Counts) -> list[str]:
    """Where the restored counts fall outside [low, high] per table, or tables differ."""
    problems = []
    for name in sorted(set(low) | set(restored)):
        lo, hi, got = low.get(name, {}), high.get(name, low.get(name, {})), restored.get(name)
        if got is None:
            problems.append(f"{name}: not in the restored copy")
            continue
        tables = set(lo) | set(hi)
        problems += [f"{name}.{t}: missing" for t in sorted(tables - set(got))]
        problems += [f"{name}.{t}: not in the original" for t in sorted(set(got) - tables)]
        for table in sorted(tables & set(got)):
            bounds = sorted((lo.get(table, 0), hi.get(table, lo.get(table, 0))))
            if not bounds[0] <= got[table] <= bounds[1]:
                shown = bounds[0] if bounds[0] == bounds[1] else f"{bounds[0]}..{bounds[1]}"
                problems.append(f"{name}.{table}: {got[table]} rows restored, {shown} at dump time")
    return problems


def drop_scratch(pool: SSHPool, node: str, dbs: Iterable[str]) -> None:
    for name in dbs:
        db.drop_database(pool, node, SCRATCH + name)


def restore_check(pool: SSHPool, node: str, record: dict[str, Any], *, keep_upload: bool = False) -> dict[str, Any]:
    """Restore the recorded dump into scratch databases on `node`, compare, drop them; the evidence.

    Refuses (DumpError) a master copy that is not the one recorded, and a restore whose row counts
    differ from the dump-time counts. The node's copy stays when `keep_upload` (the real restore
    follows on the same node)."""
    dbs = list(record["dbs"])
    remote = upload(pool, node, record)
    try:
        drop_scratch(pool, node, dbs)  # left by an interrupted earlier attempt
        db.restore_renamed(pool, node, remote, SCRATCH)
        restored = row_counts(pool, node, dbs, prefix=SCRATCH)
    finally:
        drop_scratch(pool, node, dbs)
        if not keep_upload:
            discard(pool, node, record)
    problems = compare(restored, record["counts_before"], record["counts"])
    if problems:
        raise DumpError(f"the dump {record['path']} restored on {node} differs from the databases it was "
                        f"taken from: {'; '.join(problems[:10])}" + (" ..." if len(problems) > 10 else ""),
                        "do not use this dump: find why (the dump's log, disk space) and take a new one")
    return {"node": node, "scratch": [SCRATCH + name for name in dbs], "counts": restored,
            "tables": sum(len(t) for t in restored.values()), "rows": sum(sum(t.values()) for t in restored.values())}
