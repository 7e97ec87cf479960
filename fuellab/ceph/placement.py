"""Where data lives: object -> placement group -> OSDs (a small CRUSH).

An object's PG is a hash of its name modulo the pool's pg_num. A PG is placed
on `size` OSDs of distinct hosts among the OSDs that are *in*, by highest
random weight: each host scores with its best OSD for the PG, the best hosts
win. Like CRUSH's chooseleaf by host, taking an OSD out moves only the PGs
that used it, and a host with another OSD still in keeps its share.
Mappings are pure functions of the in-set, cached per in-set.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

InSet = tuple[tuple[int, str], ...]  # ((osd id, host), ...) sorted


def object_hash(name: str) -> int:
    return zlib.crc32(name.encode()) & 0xFFFFFFFF


def pg_of(name: str, pg_num: int) -> int:
    return object_hash(name) % max(1, pg_num)


def pgid(pool_id: int, ps: int) -> str:
    return f"{pool_id}.{ps:x}"


def in_set(osds: dict[str, dict]) -> InSet:
    return tuple(sorted((int(i), o.get("host", "")) for i, o in osds.items() if o.get("in")))


def _score(pool_id: int, ps: int, osd: int) -> int:
    return zlib.crc32(f"{pool_id}.{ps}:{osd}".encode())


class Mapping:
    def __init__(self, members: InSet) -> None:
        self.hosts: dict[str, list[int]] = {}
        for osd, host in members:
            self.hosts.setdefault(host, []).append(osd)
        self._pgs: dict[tuple[int, int, int], tuple[int, ...]] = {}

    def pg(self, pool_id: int, ps: int, size: int) -> tuple[int, ...]:
        key = (pool_id, ps, size)
        hit = self._pgs.get(key)
        if hit is None:
            best = []
            for osds in self.hosts.values():
                top = max(osds, key=lambda o: _score(pool_id, ps, o))
                best.append((_score(pool_id, ps, top), top))
            best.sort(reverse=True)
            hit = tuple(osd for _, osd in best[:size])
            self._pgs[key] = hit
        return hit


@lru_cache(maxsize=32)
def mapping(members: InSet) -> Mapping:
    return Mapping(members)
