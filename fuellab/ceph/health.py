"""What the monitors report: PG states, health summary and detail, usage, as firefly words them.

Severity follows firefly (0.80): "no osds" and full OSDs are HEALTH_ERR; monitors
out of quorum, down OSDs that are still in, cluster flags and every PG state or
stuck PG are HEALTH_WARN. A cluster without a quorum reports nothing at all: the
client cannot ask (see fuellab.ceph.client).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fuellab.ceph import placement, store

if TYPE_CHECKING:
    from fuellab.ceph.cluster import Quorum, View

OK, WARN, ERR = "HEALTH_OK", "HEALTH_WARN", "HEALTH_ERR"
_RANK = {OK: 0, WARN: 1, ERR: 2}
OSD_BASE_USED = 36 * 1024 * 1024  # journal and filestore metadata of an empty OSD


@dataclass
class PG:
    pgid: str
    state: str
    acting: list[int]
    since: float  # when it stopped being active+clean
    objects: int = 0
    bytes: int = 0


@dataclass
class PGSummary:
    pgs: list[PG] = field(default_factory=list)
    objects: int = 0
    data_bytes: int = 0
    degraded: int = 0  # missing replicas
    replicas: int = 0  # wanted replicas

    def by_state(self) -> Counter[str]:
        return Counter(pg.state for pg in self.pgs)


def pg_summary(quorum: Quorum) -> PGSummary:
    state = quorum.state
    osdmap = state["osdmap"]
    osds = osdmap["osds"]
    up = {int(i) for i, o in osds.items() if o.get("up")}
    mapping = placement.mapping(placement.in_set(osds))
    incomplete = set(state["pgmap"].get("incomplete", []))
    counts: Counter[tuple[int, int]] = Counter()
    sizes: Counter[tuple[int, int]] = Counter()
    for pool_key, objects in state["pgmap"].get("objects", {}).items():
        pool = osdmap["pools"].get(pool_key)
        if pool is None:
            continue
        for name, record in objects.items():
            key = (int(pool_key), placement.pg_of(name, pool["pg_num"]))
            counts[key] += 1
            sizes[key] += int(record[0])
    out = PGSummary()
    for pool_key, pool in sorted(osdmap["pools"].items(), key=lambda kv: int(kv[0])):
        pool_id, size = int(pool_key), int(pool["size"])
        for ps in range(int(pool["pg_num"])):
            full = list(mapping.pg(pool_id, ps, size))
            acting = [o for o in full if o in up]
            pgid = placement.pgid(pool_id, ps)
            down_since = [float(osds[str(o)].get("down_at") or 0.0) for o in full if o not in up]
            if not osds:
                pg_state, since = "creating", float(pool.get("created", 0.0))
            elif pgid in incomplete:
                pg_state, since = "incomplete", float(osdmap.get("modified", 0.0))
            elif not acting:
                pg_state = "stale+active+degraded"
                since = max(down_since) if down_since else float(osdmap.get("modified", 0.0))
            elif len(acting) < size:
                pg_state = "active+degraded"
                since = min(down_since) if down_since else float(osdmap.get("modified", 0.0))
            else:
                pg_state, since = "active+clean", 0.0
            n = counts.get((pool_id, ps), 0)
            out.pgs.append(PG(pgid, pg_state, acting, since, n, sizes.get((pool_id, ps), 0)))
            out.objects += n
            out.data_bytes += sizes.get((pool_id, ps), 0)
            out.replicas += n * size
            if pg_state != "creating":
                out.degraded += n * max(0, size - len(acting))
    return out


def _notes(pgs: PGSummary, now: float, threshold: float) -> tuple[dict[str, int], list[str]]:
    notes: Counter[str] = Counter()
    stuck: list[str] = []
    for pg in pgs.pgs:
        if pg.state == "active+clean":
            continue
        for part in ("stale", "degraded", "incomplete"):
            if part in pg.state.split("+"):
                notes[part] += 1
        if now - pg.since <= threshold:
            continue
        active = "active" in pg.state.split("+") and pg.state != "incomplete"
        kinds = ["unclean"] + ([] if active else ["inactive"]) + (["stale"] if "stale" in pg.state else [])
        for kind in kinds:
            notes[f"stuck {kind}"] += 1
            stuck.append(f"pg {pg.pgid} is stuck {kind} for {now - pg.since:.6f}, current state "
                         f"{pg.state}, last acting {osd_list(pg.acting)}")
    return dict(sorted(notes.items())), stuck


def osd_list(osds: list[int]) -> str:
    return "[" + ",".join(str(o) for o in osds) + "]"


def osd_addr(osd: dict[str, Any], osd_id: int) -> str:
    return osd.get("addr") or f"{osd.get('ip', '0.0.0.0')}:{6800 + 2 * (osd_id % 8)}/{1000 + osd_id}"


def health(view: View, quorum: Quorum, threshold: float = 300.0) -> tuple[str, list[tuple[str, str]],
                                                                           list[tuple[str, str]]]:
    """(overall, summary, detail) with (severity, text) items.

    In the monitors' service order (PGMap, OSDMap, MonMap), as firefly lists them:
    "HEALTH_ERR 64 pgs stuck inactive; 64 pgs stuck unclean; no osds".
    """
    summary: list[tuple[str, str]] = []
    detail: list[tuple[str, str]] = []
    pgs = pg_summary(quorum)
    notes, stuck = _notes(pgs, view.now, threshold)
    for note, count in notes.items():
        summary.append((WARN, f"{count} pgs {note}"))
    detail += [(WARN, line) for line in stuck]
    for pg in pgs.pgs:
        if pg.state != "active+clean" and pg.state != "creating":
            detail.append((WARN, f"pg {pg.pgid} is {pg.state}, acting {osd_list(pg.acting)}"))
    if pgs.degraded:
        line = f"recovery {pgs.degraded}/{pgs.replicas} objects degraded ({100.0 * pgs.degraded / pgs.replicas:.3f}%)"
        summary.append((WARN, line))
        detail.append((WARN, line))
    osdmap = quorum.state["osdmap"]
    osds = osdmap["osds"]
    if not osds:
        summary.append((ERR, "no osds"))
    else:
        down_in = [(int(i), o) for i, o in osds.items() if o.get("in") and not o.get("up")]
        num_in = sum(1 for o in osds.values() if o.get("in"))
        if down_in:
            summary.append((WARN, f"{len(down_in)}/{num_in} in osds are down"))
            for osd_id, osd in sorted(down_in):
                detail.append((WARN, f"osd.{osd_id} is down since epoch {osd.get('down_epoch', 0)}, "
                                     f"last address {osd_addr(osd, osd_id)}"))
    flags = osdmap.get("flags", [])
    if flags:
        summary.append((WARN, f"{','.join(flags)} flag(s) set"))
    monmap = quorum.monmap
    missing = [m for m in monmap["mons"] if m["name"] not in quorum.names]
    if missing:
        ranks = ",".join(str(r) for r in quorum.ranks)
        summary.append((WARN, f"{len(missing)} mons down, quorum {ranks} {','.join(quorum.names)}"))
        for mon in missing:
            detail.append((WARN, f"mon.{mon['name']} (rank {store.rank_of(monmap, mon['name'])}) "
                                 f"addr {mon['addr']} is down (out of quorum)"))
    overall = max((sev for sev, _ in summary), key=_RANK.__getitem__, default=OK)
    return overall, summary, detail


def health_line(view: View, quorum: Quorum) -> str:
    overall, summary, _ = health(view, quorum)
    return overall if not summary else f"{overall} " + "; ".join(text for _, text in summary)


# --------------------------------------------------------------------------- usage


@dataclass
class Usage:
    total: int  # bytes of the up OSDs' data volumes
    used: int
    per_pool: dict[int, tuple[int, int]]  # pool id -> (bytes, objects)

    @property
    def avail(self) -> int:
        return max(0, self.total - self.used)


def usage(quorum: Quorum) -> Usage:
    osdmap = quorum.state["osdmap"]
    up = [o for o in osdmap["osds"].values() if o.get("up")]
    total = sum(int(o.get("kb", 0)) * 1024 for o in up)
    per_pool: dict[int, tuple[int, int]] = {int(k): (0, 0) for k in osdmap["pools"]}
    raw = 0
    for pool_key, objects in quorum.state["pgmap"].get("objects", {}).items():
        size = sum(int(r[0]) for r in objects.values())
        per_pool[int(pool_key)] = (size, len(objects))
        raw += sum(int(r[0]) * len(r[2]) for r in objects.values())
    return Usage(total, min(total, raw + OSD_BASE_USED * len(up)), per_pool)


def kb_t(nbytes: int) -> str:
    """firefly's kb_t: kB until 10240 of them, then MB, GB, TB."""
    value = nbytes // 1024
    for unit in ("kB", "MB", "GB", "TB"):
        if value < 10240 or unit == "TB":
            return f"{value} {unit}"
        value >>= 10
    return f"{value} TB"


def prettybyte(nbytes: int) -> str:
    """firefly's prettybyte_t: bytes until 10240 of them, then kB, MB, ..."""
    if nbytes < 10240:
        return f"{nbytes} bytes"
    return kb_t(nbytes)
