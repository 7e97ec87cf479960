"""Objects as real files on the OSDs' data directories, and what moves them.

An object of pool P in PG ps lives on each OSD that holds a replica as
`current/<P>.<ps>_head/<name>__head_<HASH>__<P>` (FileStore's layout, names
escaped as FileStore escapes them), so a wiped data disk loses it for real.
The MON store keeps an index per pool: name -> [size, md5, OSDs holding it].

`reconcile` runs whenever the osdmap changes. For every object it finds the
copies that still exist (a disk re-installed without keep_data has none), then
copies the object from an up holder to each up OSD of its PG's new mapping
that lacks it: to an OSD newly mapped to the PG this is backfill (ledger
"backfill", bytes moved), to one that was down while the object changed it is
recovery (ledger "recovery"). Copies left on up OSDs outside the mapping are
removed once every target has one. An object no OSD holds any more is lost
(ledger "object_lost") and its PG stays incomplete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fuellab.ceph import placement

if TYPE_CHECKING:
    from fuellab.ceph.cluster import Quorum, View
    from fuellab.world import World

CURRENT = "current"


def escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace("/", "\\s").replace("_", "\\u")


def object_file(data_dir: Path, pool_id: int, ps: int, name: str) -> Path:
    h = placement.object_hash(name)
    return data_dir / CURRENT / f"{placement.pgid(pool_id, ps)}_head" / f"{escape(name)}__head_{h:08X}__{pool_id:x}"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - a checksum, as rbd/rados report it


def osd_data_dir(world: World, hosts: dict[str, Any], osd_id: int, osd: dict[str, Any]) -> Path | None:
    """The OSD's data directory as the osdmap last saw it, if that disk still holds this OSD."""
    node = hosts.get(osd.get("host", ""))
    rel = osd.get("data")
    if node is None or not rel:
        return None
    path = world.node_dir(node) / rel
    try:
        if (path / "whoami").read_text().strip() != str(osd_id):
            return None
    except OSError:
        return None
    return path


class Placement:
    """Object locations of one cluster at one instant."""

    def __init__(self, view: View, quorum: Quorum) -> None:
        self.world = view.world
        self.state = quorum.state
        self.osds: dict[str, dict[str, Any]] = self.state["osdmap"]["osds"]
        self.up = {int(i) for i, o in self.osds.items() if o.get("up")}
        self.mapping = placement.mapping(placement.in_set(self.osds))
        self.hosts = {n.hostname: n for n in view.world.nodes.values()}
        self._dirs: dict[int, Path | None] = {}

    def data_dir(self, osd_id: int) -> Path | None:
        if osd_id not in self._dirs:
            osd = self.osds.get(str(osd_id))
            self._dirs[osd_id] = osd_data_dir(self.world, self.hosts, osd_id, osd) if osd else None
        return self._dirs[osd_id]

    def targets(self, pool: dict[str, Any], name: str) -> tuple[int, tuple[int, ...]]:
        ps = placement.pg_of(name, pool["pg_num"])
        return ps, self.mapping.pg(int(pool["id"]), ps, int(pool["size"]))

    def copies(self, pool_id: int, ps: int, name: str, record: list[Any],
               candidates: set[int]) -> dict[int, Path]:
        """OSDs among `candidates` holding a current copy (a stale one does not count)."""
        size, digest, holders = record[0], record[1], set(record[2])
        out = {}
        for osd_id in sorted(candidates):
            ddir = self.data_dir(osd_id)
            if ddir is None:
                continue
            path = object_file(ddir, pool_id, ps, name)
            try:
                if path.stat().st_size != size:
                    continue
                if osd_id not in holders and md5(path.read_bytes()) != digest:
                    continue
            except OSError:
                continue
            out[osd_id] = path
        return out


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def reconcile(view: View, quorum: Quorum, before_in: placement.InSet, before_up: set[int]) -> None:
    state = quorum.state
    where = Placement(view, quorum)
    old_map = placement.mapping(before_in)
    pools = state["osdmap"]["pools"]
    pgmap = state["pgmap"]
    backfill: dict[int, int] = {}
    recovery: dict[int, int] = {}
    for pool_key, objects in pgmap.get("objects", {}).items():
        pool = pools.get(pool_key)
        if pool is None:
            continue
        pool_id, size = int(pool_key), int(pool["size"])
        for name, record in list(objects.items()):
            ps, mapped = where.targets(pool, name)
            targets = [o for o in mapped if o in where.up]
            was_mapped = set(old_map.pg(pool_id, ps, size))
            have = where.copies(pool_id, ps, name, record, set(record[2]) | set(mapped))
            if not have:
                del objects[name]
                incomplete = pgmap.setdefault("incomplete", [])
                pg = placement.pgid(pool_id, ps)
                if pg not in incomplete:
                    incomplete.append(pg)
                view.world.record("object_lost", fsid=quorum.fsid, pool=pool["name"], object=name,
                                  pg=pg)
                continue
            sources = [o for o in have if o in where.up]
            if sources:
                for target in targets:
                    if target in have:
                        continue
                    ddir = where.data_dir(target)
                    if ddir is None:
                        continue
                    dest = object_file(ddir, pool_id, ps, name)
                    _copy(have[sources[0]], dest)
                    have[target] = dest
                    bucket = backfill if target not in was_mapped else recovery
                    bucket[target] = bucket.get(target, 0) + int(record[0])
                if targets and all(t in have for t in targets):
                    for osd_id in [o for o in have if o in where.up and o not in mapped]:
                        have.pop(osd_id).unlink(missing_ok=True)
            record[2] = sorted(have)
    for osd_id, moved in sorted(backfill.items()):
        view.world.record("backfill", bytes=moved, osd=osd_id, fsid=quorum.fsid)
    for osd_id, moved in sorted(recovery.items()):
        view.world.record("recovery", bytes=moved, osd=osd_id, fsid=quorum.fsid)
    if backfill or recovery:
        pgmap["version"] = int(pgmap.get("version", 0)) + 1


# --------------------------------------------------------------------------- client I/O


class DataError(Exception):
    def __init__(self, message: str, errno_name: str = "EIO") -> None:
        super().__init__(message)
        self.errno_name = errno_name


def write(view: View, quorum: Quorum, pool_name: str, name: str, payload: bytes) -> str:
    """Store an object on the up OSDs of its PG; its md5. The caller commits the quorum."""
    from fuellab.ceph import store

    state = quorum.state
    pool = store.pool_by_name(state, pool_name)
    if pool is None:
        raise DataError(f"error opening pool {pool_name}: (2) No such file or directory", "ENOENT")
    where = Placement(view, quorum)
    ps, mapped = where.targets(pool, name)
    pg = placement.pgid(int(pool["id"]), ps)
    targets = [o for o in mapped if o in where.up and where.data_dir(o) is not None]
    if not targets or pg in state["pgmap"].get("incomplete", []):
        # A real client blocks until the PG peers; the lab answers at once.
        raise DataError(f"pg {pg} is not active: no OSD of {list(mapped)} is up", "ETIMEDOUT")
    digest = md5(payload)
    for osd_id in targets:
        dest = object_file(where.data_dir(osd_id), int(pool["id"]), ps, name)  # type: ignore[arg-type]
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, dest)
    objects = state["pgmap"].setdefault("objects", {}).setdefault(str(pool["id"]), {})
    objects[name] = [len(payload), digest, sorted(targets)]
    state["pgmap"]["version"] = int(state["pgmap"].get("version", 0)) + 1
    return digest


def read(view: View, quorum: Quorum, pool_name: str, name: str) -> bytes:
    from fuellab.ceph import store

    state = quorum.state
    pool = store.pool_by_name(state, pool_name)
    if pool is None:
        raise DataError(f"error opening pool {pool_name}: (2) No such file or directory", "ENOENT")
    record = state["pgmap"].get("objects", {}).get(str(pool["id"]), {}).get(name)
    if record is None:
        raise DataError(f"error getting {pool_name}/{name}: (2) No such file or directory", "ENOENT")
    where = Placement(view, quorum)
    ps, mapped = where.targets(pool, name)
    have = where.copies(int(pool["id"]), ps, name, record, set(record[2]) | set(mapped))
    for osd_id, path in have.items():
        if osd_id in where.up:
            return path.read_bytes()
    raise DataError(f"error getting {pool_name}/{name}: object unfound, no up OSD holds it", "ETIMEDOUT")


def remove(view: View, quorum: Quorum, pool_name: str, name: str) -> None:
    from fuellab.ceph import store

    state = quorum.state
    pool = store.pool_by_name(state, pool_name)
    objects = state["pgmap"].get("objects", {}).get(str(pool["id"]), {}) if pool else {}
    record = objects.get(name) if pool else None
    if pool is None or record is None:
        raise DataError(f"error removing {pool_name}>{name}: (2) No such file or directory", "ENOENT")
    where = Placement(view, quorum)
    ps, _ = where.targets(pool, name)
    for osd_id in record[2]:
        ddir = where.data_dir(osd_id)
        if ddir is not None and osd_id in where.up:
            object_file(ddir, int(pool["id"]), ps, name).unlink(missing_ok=True)
    del objects[name]
    state["pgmap"]["version"] = int(state["pgmap"].get("version", 0)) + 1
