"""Services register themselves in their env's database while they run.

Upstream, nova services (report_state), cinder services and neutron agents
upsert their own `services` / `agents` row once they run and reach their
database. The lab does the same in a background pass: for every job of
`fuellab.openstack.seed.REGISTERING_JOBS` running on a node
(`fuellab.services.running_jobs`), when the node reaches its own env's
database the way the APIs do (`fuellab.galera.reach` on the env's management
VIP: HAProxy's mysqld frontend, the env's primary component), the writer node
is not read-only, and the database's schema is the one the node's release
expects (`fuellab.openstack.schema.matches`), the job's row is added if it is
missing, with the shapes of `seed.register_job`.

So a seed controller whose restored dump holds only the original
controllers' rows gets its own rows once `db sync` brought the schema to its
release. Rows are never removed: a stopped job leaves its row, which the APIs
then show down/dead (`fuellab.openstack.liveness` decides up/alive from what
runs, not from these rows). The inserts are the services' own bookkeeping, not
tenant writes: they are not counted as writes (`galera.note_write`) nor
tracked by `fuellab.traffic`.

Cost: a pass runs when `world.version` changed (at most every CHECK wall
seconds, and at most LOAD of the wall time) and otherwise every INTERVAL wall
seconds, which catches causes that change no world object (a dump restored, a
schema synced, a row deleted). What should register is re-derived only when
the world changed; a database is read only when its file changed.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from fuellab import galera, network, services
from fuellab.openstack import schema, seed

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Node, World

log = logging.getLogger("fuellab.registration")

CHECK = 0.1  # wall seconds between two looks at world.version
INTERVAL = 1.0  # wall seconds between two passes when the world did not change
LOAD = 0.05  # at most this share of wall time goes to passes: big labs pass less often

_schema_checks: dict[tuple[int, str, str, int, int, int | str | None], bool] = {}


def _jobs(world: World, node: Node) -> list[str]:
    """The registering jobs running on the node.

    Pacemaker places jobs only on the nodes its cluster is configured with, so
    for every other node (computes) its upstart jobs are all that runs: this
    skips re-deriving the env's placements once per compute."""
    if not node.online:
        return []
    cluster = world.clusters.get(node.cluster) if node.cluster is not None else None
    if cluster is not None and node.hostname in services.configured_nodes(cluster):
        jobs = services.running_jobs(world, node)
    else:
        jobs = node.jobs
    return [j for j in jobs if j in seed.REGISTERING_JOBS]


def _reaches_own_env(lab: Lab, node: Node, seen: dict[tuple[object, ...], bool]) -> bool:
    """The node's services reach a writable server of their own env's Galera through the VIP.

    galera.reach's verdict for the VIP depends on the env, on the segment of
    the node's management bridge and on whether the node holds that address
    itself, not on which node asks: `seen` shares it among a segment's nodes."""
    world = lab.world
    cluster = world.clusters.get(node.cluster) if node.cluster is not None else None
    vip = cluster.vips.get("management") if cluster is not None else None
    if not vip:
        return False
    bridge = world.networks["management"].bridge if "management" in world.networks else ""
    segment = network.segments(world).find((node.id, bridge)) if bridge and bridge in node.ovs else None
    key = (node.cluster, vip, segment, vip in node.ips.values())
    if key not in seen:
        try:
            endpoint = galera.reach(lab, node, vip, galera.HAPROXY_PORT)
            seen[key] = endpoint.cluster_id == node.cluster and not galera.read_only(world, endpoint.server)
        except galera.GaleraError:
            seen[key] = False
    return seen[key]


def _schema_fits(lab: Lab, cluster_id: int, database: str, release: str, conn: sqlite3.Connection) -> bool:
    """schema.matches, remembered per file, schema cookie and stamped version."""
    cookie = int(conn.execute("PRAGMA schema_version").fetchone()[0])
    inode = galera.db_path(lab.world, cluster_id, database).stat().st_ino
    key = (cluster_id, database, release, cookie, inode, schema.version(conn, database))
    if key not in _schema_checks:
        if len(_schema_checks) > 1024:
            _schema_checks.clear()
        try:
            _schema_checks[key] = schema.matches(conn, database, release)
        except KeyError:  # no code of that service for the release
            _schema_checks[key] = False
    return _schema_checks[key]


Wanted = dict[tuple[int, str], list[tuple["Node", str]]]


class Registrar:
    """Registration passes over one lab, remembering what needs no new look.

    What should be registered (jobs running, database reached) depends on the
    world only: it is re-derived when `world.version` changed. A database is
    read again only when its file changed since the pass that found every
    wanted row in it (or what is wanted changed)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._wanted: tuple[int, Wanted] | None = None
        self._verified: dict[tuple[int, str], tuple[tuple[int, int, int], frozenset[tuple[int, str]]]] = {}
        self.cost = 0.0  # wall seconds the last pass took

    def wanted(self) -> Wanted:
        """(env, database) -> the (node, job) pairs that register there now."""
        world = self.lab.world
        if self._wanted is not None and self._wanted[0] == world.version:
            return self._wanted[1]
        wanted: Wanted = defaultdict(list)
        reached: dict[tuple[object, ...], bool] = {}
        for node in world.nodes.values():
            if node.cluster is None or not node.release:
                continue
            jobs = _jobs(world, node)
            if not jobs or not _reaches_own_env(self.lab, node, reached):
                continue
            for job in jobs:
                wanted[(node.cluster, seed.REGISTERING_JOBS[job][0])].append((node, job))
        self._wanted = (world.version, wanted)
        return wanted

    def run_pass(self) -> int:
        """Add the missing rows of every running, connected job; how many were added."""
        started = time.monotonic()
        world = self.lab.world
        wanted = self.wanted()
        added = 0
        for key, entries in wanted.items():
            cluster_id, database = key
            try:
                st = galera.db_path(world, cluster_id, database).stat()
            except OSError:
                continue
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            what = frozenset((node.id, job) for node, job in entries)
            if self._verified.get(key) == (stamp, what):
                continue
            new = _register(self.lab, cluster_id, database, entries)
            if new is None:
                continue
            added += new
            if new == 0:  # our own inserts change the file: the next pass looks once more
                self._verified[key] = (stamp, what)
        self.cost = time.monotonic() - started
        return added


def _register(lab: Lab, cluster_id: int, database: str, entries: list[tuple[Node, str]]) -> int | None:
    """Add the missing rows of `entries` to one database; None when it could not be done now."""
    world = lab.world
    cluster = world.clusters[cluster_id]
    try:
        conn = galera.connect(world, cluster_id, database)
    except galera.GaleraError:  # dropped since the stat (a restore in progress)
        return None
    added = 0
    try:
        fits = {release: _schema_fits(lab, cluster_id, database, release, conn)
                for release in {node.release or "" for node, _ in entries}}
        for node, job in entries:
            if fits[node.release or ""]:
                added += seed.register_job(world, cluster, node, job, conn)
        conn.commit()
    except sqlite3.Error as exc:  # e.g. locked by a restore in progress: the next pass retries
        conn.rollback()
        log.debug("registration in env-%s/%s deferred: %s", cluster_id, database, exc)
        return None
    finally:
        conn.close()
    return added


def register_all(lab: Lab) -> int:
    """One full pass, nothing remembered; how many rows were added."""
    return Registrar(lab).run_pass()


async def run(lab: Lab) -> None:
    """Registration passes until cancelled: on a world change, else every INTERVAL wall seconds.

    Passes are spaced so that they take at most LOAD of the lab's time (a big
    lab whose world changes all the time passes less often)."""
    registrar = Registrar(lab)
    seen: int | None = None
    last = 0.0
    while True:
        await asyncio.sleep(max(CHECK, registrar.cost / LOAD))
        now = time.monotonic()
        if lab.world.version == seen and now - last < INTERVAL:
            continue
        seen, last = lab.world.version, now
        try:
            registrar.run_pass()
        except Exception:  # a lab bug must not stop registration for good
            log.exception("registration pass failed")
