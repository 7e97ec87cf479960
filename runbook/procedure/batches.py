"""Stage 6's plan: which computes and OSD nodes are reinstalled together, and where their VMs go.

Pure logic, no I/O: the procedure (runbook.procedure.upgrade_node) describes
the cloud as `Compute`s (what nova's scheduler allows on each host, the VMs on
it, the nova-compute release it runs) and OSD nodes, and journals the `Plan`
this module returns; the scale benchmark feeds it a model of 200 computes.

The rules a plan keeps:

- A compute is reinstalled only when empty: every VM on it live-migrates to a
  compute that is not in its batch, enabled, and has room for it under the
  scheduler's own arithmetic (allocation ratios applied, reserve taken off,
  what the VMs already there use subtracted), in every dimension (vCPUs, RAM,
  disk; disk is unlimited on shared storage).
- A VM never moves to an older nova-compute than the one it runs on (Juno ->
  Kilo is allowed, Kilo -> Juno is not; the lab refuses it as nova does).
  Reinstalled computes run the new release and are the preferred targets: a
  VM put there never moves again. A VM put on a compute not reinstalled yet
  moves again when that compute's turn comes (the plan counts that).
- A batch leaves at least one enabled nova-compute outside it (the cloud must
  keep scheduling; nova's "last enabled compute" rule).
- Ceph OSD nodes go one failure domain (host) at a time under `noout`: at
  most one OSD host per batch. An OSD node rides along in a compute batch (one
  Fuel task provisions and deploys them together), so OSD nodes cost no
  reinstall time of their own unless they outnumber the compute batches.

Duration model (`Costs`): batches run one after another (one Fuel task per
env at a time); a batch first drains its computes (live migrations, at most
`per_host` at a time out of one compute and `parallel` in the whole cloud),
then reinstalls all its nodes in parallel (`reinstall_s`, provision + deploy),
then waits for its OSD node's PGs (`osd_settle_s`).

How batches are chosen: for a schedule of batch sizes, batches are filled
greedily with the computes cheapest to drain (fewest VMs) as long as their
VMs still fit elsewhere (best fit decreasing: reinstalled computes first, then
the fullest others, so displaced VMs gather on the computes drained last).
Several schedules are tried (the capacity bound as a cap; even splits into
the fewest batches capacity allows, a few more, and one per OSD host, the
bigger batches last when more reinstalled computes can take VMs; the same
with a smaller first batch, whose VMs can only go to computes drained later)
and the plan with the shortest duration wins. One compute at a time is only the fallback
when no bigger batch fits; when not even one compute can be drained, the plan
is refused (`PlanError`, capacity short), naming what does not fit.

`lower_bound(...)`: no plan under this model is faster. At most `b` computes
can be out at once, `b` the largest count whose removal (smallest first) still
leaves room for every VM in every dimension; so at least ceil(n / b) batches
(and at least one per OSD host), each costing `reinstall_s`, plus every VM on
a compute to reinstall moving at least once over at most `b * per_host` (and
`parallel`) migration slots.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from runbook.errors import OctaneError

INF = math.inf
RELEASES = ("juno", "kilo")  # oldest first: a VM may move to a release at least as new as its host's
TARGET_RELEASE = "kilo"
RAMP_SHARES = (0.4, 0.6, 0.8)  # first batch sizes tried, as a share of an even batch


class PlanError(OctaneError):
    """No plan keeps the rules (capacity short, the last enabled compute): nothing was changed."""


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Size:
    """Resources a VM uses, or a compute offers: vCPUs, RAM (MB), disk (GB)."""

    vcpus: float = 0.0
    ram_mb: float = 0.0
    disk_gb: float = 0.0

    def __add__(self, other: Size) -> Size:
        return Size(self.vcpus + other.vcpus, self.ram_mb + other.ram_mb, self.disk_gb + other.disk_gb)

    def __sub__(self, other: Size) -> Size:
        return Size(_minus(self.vcpus, other.vcpus), _minus(self.ram_mb, other.ram_mb),
                    _minus(self.disk_gb, other.disk_gb))

    def fits_in(self, free: Size) -> bool:
        return self.ram_mb <= free.ram_mb and self.vcpus <= free.vcpus and self.disk_gb <= free.disk_gb

    def short(self, free: Size) -> list[str]:
        """What does not fit, in words ("RAM 4096 MB > 2000 MB free")."""
        out = []
        for label, need, have in (("RAM", self.ram_mb, free.ram_mb), ("vCPUs", self.vcpus, free.vcpus),
                                  ("disk", self.disk_gb, free.disk_gb)):
            if need > have:
                out.append(f"{label} {_num(need)} > {_num(have)} free")
        return out


def _minus(a: float, b: float) -> float:
    """Unlimited stays unlimited (shared storage minus anything), never NaN."""
    return INF if a == INF else a - b


def total(sizes: Iterable[Size]) -> Size:
    out = Size()
    for size in sizes:
        out = out + size
    return out


@dataclass(frozen=True)
class VM:
    id: str
    size: Size
    name: str = ""


@dataclass(frozen=True)
class Compute:
    """One compute as the scheduler sees it, and whether this plan reinstalls it."""

    name: str
    capacity: Size  # what may run there in total (allocation ratios applied, reserve taken off)
    vms: tuple[VM, ...] = ()
    release: str = "juno"  # the nova-compute it runs now
    upgrade: bool = True  # reinstalled by this plan
    enabled: bool = True  # nova-compute up and enabled: VMs may be sent there
    osd: bool = False  # also a ceph-osd node (one OSD host per batch)
    done: bool = False  # already reinstalled on the new release (the best target)

    @property
    def used(self) -> Size:
        return total(vm.size for vm in self.vms)


@dataclass(frozen=True)
class Costs:
    """How long things take (seconds). Defaults are hardware's order of magnitude."""

    reinstall_s: float = 3600.0  # provision + deploy of one batch, its nodes in parallel
    migration_s: float = 60.0  # one live migration
    per_host: int = 1  # live migrations out of one compute at a time
    parallel: int | None = None  # live migrations at a time in the whole cloud (None: no limit)
    osd_settle_s: float = 0.0  # an OSD node back until its PGs are active+clean again


@dataclass(frozen=True)
class Move:
    vm: str
    name: str
    source: str
    target: str


@dataclass
class Batch:
    computes: list[str]
    osd_nodes: list[str]
    moves: list[Move] = field(default_factory=list)
    drain_s: float = 0.0
    duration_s: float = 0.0

    @property
    def nodes(self) -> list[str]:
        """Every node the batch reinstalls (a hyperconverged node is listed once)."""
        return list(dict.fromkeys([*self.computes, *self.osd_nodes]))


@dataclass
class Plan:
    batches: list[Batch]
    costs: Costs
    duration_s: float
    lower_bound_s: float
    one_at_a_time_s: float | None = None
    release: str = TARGET_RELEASE
    schedule: str = ""  # which batch sizes won ("cap 30", "7 even batches")

    @property
    def migrations(self) -> int:
        return sum(len(b.moves) for b in self.batches)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the journal; `from_dict` reads it back."""
        return {
            "release": self.release, "schedule": self.schedule, "costs": asdict(self.costs),
            "duration_s": round(self.duration_s, 3), "lower_bound_s": round(self.lower_bound_s, 3),
            "one_at_a_time_s": None if self.one_at_a_time_s is None else round(self.one_at_a_time_s, 3),
            "migrations": self.migrations,
            "batches": [{"index": i, "computes": b.computes, "osd_nodes": b.osd_nodes,
                         "drain_s": round(b.drain_s, 3), "duration_s": round(b.duration_s, 3),
                         "moves": [{"vm": m.vm, "name": m.name, "from": m.source, "to": m.target}
                                   for m in b.moves]}
                        for i, b in enumerate(self.batches, 1)],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        batches = [Batch(list(b["computes"]), list(b["osd_nodes"]),
                         [Move(m["vm"], m.get("name", ""), m["from"], m["to"]) for m in b["moves"]],
                         float(b["drain_s"]), float(b["duration_s"])) for b in data["batches"]]
        return cls(batches, Costs(**data["costs"]), float(data["duration_s"]), float(data["lower_bound_s"]),
                   data.get("one_at_a_time_s"), data.get("release", TARGET_RELEASE), data.get("schedule", ""))

    def summary(self) -> list[str]:
        """One line per batch, for logs and `octane plan`."""
        lines = []
        for i, b in enumerate(self.batches, 1):
            osd = f" + OSD {', '.join(b.osd_nodes)}" if b.osd_nodes else ""
            lines.append(f"batch {i}: {len(b.computes)} compute(s) {', '.join(b.computes) or '-'}{osd}; "
                         f"{len(b.moves)} VM(s) move; ~{_duration(b.duration_s)}")
        lines.append(f"total ~{_duration(self.duration_s)} (lower bound {_duration(self.lower_bound_s)}"
                     + (f", one at a time {_duration(self.one_at_a_time_s)}" if self.one_at_a_time_s else "") + ")")
        return lines


def _num(value: float) -> str:
    return "unlimited" if value == INF else f"{value:g}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes = seconds / 60.0
    return f"{minutes / 60.0:.1f} h" if minutes >= 90 else f"{minutes:.0f} min" if minutes >= 1 else f"{seconds:.0f} s"


def release_rank(release: str | None) -> int:
    """Juno 0, Kilo 1; an unknown release ranks as the oldest (it may go anywhere, receive nothing older)."""
    return RELEASES.index(release) if release in RELEASES else 0


def _name_key(name: str) -> tuple[int, str]:
    return (len(name), name)


# --------------------------------------------------------------------------- placement


class _Free:
    """Free capacity of the hosts VMs may go to, sorted for best fit by (tier, free RAM).

    Tiered: reinstalled computes first (a VM there never moves again), then the
    others. Not tiered: best fit over all of them, so small VMs fill the gaps
    left on computes drained later and the room of reinstalled ones stays for
    the VMs only it can hold (when VMs are big next to the free gaps, that is
    what lets batches grow; the price is VMs that move twice). Changes are
    logged so a trial can be undone."""

    def __init__(self, hosts: dict[str, _Host], tiered: bool = True) -> None:
        self.hosts = hosts
        self.tiered = tiered
        self.free = {name: h.capacity - h.used for name, h in hosts.items()}
        self.excluded: set[str] = set()
        self.order: list[tuple[int, float, tuple[int, str]]] = []
        for name, host in hosts.items():
            if host.enabled:
                self.order.append((self._tier(name), self.free[name].ram_mb, _name_key(name)))
        self.order.sort()
        self.log: list[tuple[str, Any]] = []

    def _tier(self, name: str) -> int:
        return 0 if self.hosts[name].done or not self.tiered else 1

    def _key(self, name: str) -> tuple[int, float, tuple[int, str]]:
        return (self._tier(name), self.free[name].ram_mb, _name_key(name))

    def _set(self, name: str, free: Size) -> None:
        if self.hosts[name].enabled and name not in self.excluded:
            key = self._key(name)
            del self.order[bisect.bisect_left(self.order, key)]
            self.free[name] = free
            bisect.insort(self.order, self._key(name))
        else:
            self.free[name] = free

    def take(self, name: str, size: Size) -> None:
        self.log.append(("free", (name, self.free[name])))
        self._set(name, self.free[name] - size)

    def give(self, name: str, size: Size) -> None:
        self.log.append(("free", (name, self.free[name])))
        self._set(name, self.free[name] + size)

    def exclude(self, name: str) -> None:
        """No more VMs go to `name` (it joins the batch being drained)."""
        if name in self.excluded:
            return
        if self.hosts[name].enabled:
            del self.order[bisect.bisect_left(self.order, self._key(name))]
        self.excluded.add(name)
        self.log.append(("exclude", name))

    def mark(self) -> int:
        return len(self.log)

    def undo(self, mark: int) -> None:
        while len(self.log) > mark:
            kind, value = self.log.pop()
            if kind == "exclude":
                self.excluded.discard(value)
                if self.hosts[value].enabled:
                    bisect.insort(self.order, self._key(value))
            else:
                name, free = value
                self._set(name, free)

    def best_fit(self, size: Size, min_rank: int) -> str | None:
        """The target with the least free RAM that still fits, in the lowest tier that has one."""
        for tier in (0, 1):
            start = bisect.bisect_left(self.order, (tier, size.ram_mb, (0, "")))
            for key in self.order[start:]:
                if key[0] != tier:
                    break
                name = key[2][1]
                host = self.hosts[name]
                if release_rank(host.release) >= min_rank and size.fits_in(self.free[name]):
                    return name
        return None


@dataclass
class _Host:
    name: str
    capacity: Size
    vms: list[VM]
    release: str
    enabled: bool
    done: bool
    osd: bool
    used: Size = Size()  # what its VMs use, kept up to date as VMs move

    def add(self, vm: VM) -> None:
        self.vms.append(vm)
        self.used = self.used + vm.size

    def remove(self, vm: VM) -> None:
        self.vms.remove(vm)
        self.used = self.used - vm.size


def _hosts(computes: Sequence[Compute]) -> dict[str, _Host]:
    return {c.name: _Host(c.name, c.capacity, list(c.vms), c.release, c.enabled, c.done, c.osd, c.used)
            for c in computes}


def _by_size(vms: Iterable[tuple[VM, str]]) -> list[tuple[VM, str]]:
    """Biggest first (best fit decreasing), ties by id for a deterministic plan."""
    return sorted(vms, key=lambda pair: (-pair[0].size.ram_mb, -pair[0].size.vcpus, -pair[0].size.disk_gb,
                                         pair[0].id))


class _BatchBuilder:
    """Grows one batch host by host while every VM of its hosts still has a place."""

    def __init__(self, hosts: dict[str, _Host], tiered: bool = True) -> None:
        self.hosts = hosts
        self.free = _Free(hosts, tiered)
        self.members: list[str] = []
        self.placed: dict[str, tuple[VM, str, str]] = {}  # vm id -> (vm, source, target)
        self.onto: dict[str, list[str]] = {}  # target -> vm ids placed there by this batch
        self.enabled_left = sum(1 for h in hosts.values() if h.enabled)

    def _place(self, vms: list[tuple[VM, str]]) -> bool:
        for vm, source in _by_size(vms):
            target = self.free.best_fit(vm.size, release_rank(self.hosts[source].release))
            if target is None:
                return False
            self.free.take(target, vm.size)
            self.placed[vm.id] = (vm, source, target)
            self.onto.setdefault(target, []).append(vm.id)
        return True

    def try_add(self, name: str) -> bool:
        """Add `name` to the batch if its VMs, and those this batch had put on it, fit elsewhere."""
        host = self.hosts[name]
        if host.enabled and self.enabled_left <= 1:
            return False  # the last enabled nova-compute stays
        mark = self.free.mark()
        placed, onto = dict(self.placed), {t: list(v) for t, v in self.onto.items()}
        self.free.exclude(name)
        displaced = [(vm, name) for vm in host.vms]
        for vm_id in self.onto.pop(name, []):
            vm, source, _ = self.placed.pop(vm_id)
            displaced.append((vm, source))
        if self._place(displaced):
            self.members.append(name)
            self.enabled_left -= 1 if host.enabled else 0
            return True
        self.free.undo(mark)
        self.placed, self.onto = placed, onto
        return False

    def moves(self) -> list[Move]:
        return sorted((Move(vm.id, vm.name, source, target) for vm, source, target in self.placed.values()),
                      key=lambda m: (_name_key(m.source), m.vm))


def drain_seconds(moves: Sequence[Move], costs: Costs) -> float:
    """Migrations of one batch: per source compute `per_host` at a time, `parallel` in the cloud."""
    if not moves:
        return 0.0
    per_source: dict[str, int] = {}
    for move in moves:
        per_source[move.source] = per_source.get(move.source, 0) + 1
    waves = max(math.ceil(n / max(1, costs.per_host)) for n in per_source.values())
    if costs.parallel:
        waves = max(waves, math.ceil(len(moves) / costs.parallel))
    return waves * costs.migration_s


def _apply(hosts: dict[str, _Host], members: list[str], moves: list[Move], release: str) -> None:
    """The world after a batch: VMs on their targets, the batch's computes empty and reinstalled."""
    by_id = {vm.id: vm for name in {m.source for m in moves} for vm in hosts[name].vms}
    for move in moves:
        vm = by_id[move.vm]
        hosts[move.source].remove(vm)
        hosts[move.target].add(vm)
    for name in members:
        host = hosts[name]
        assert not host.vms, f"{name} still hosts VMs after its batch"
        host.release, host.done = release, True


def _fewest_vms(host: _Host) -> tuple[Any, ...]:
    """Quickest to drain first: fewest VMs, then least RAM used."""
    return (len(host.vms), host.used.ram_mb, _name_key(host.name))


def _smallest_vms(host: _Host) -> tuple[Any, ...]:
    """Easiest to place first: the smallest biggest VM (big VMs need the few big holes), then fewest VMs."""
    biggest = max((vm.size.ram_mb for vm in host.vms), default=0.0)
    return (biggest, len(host.vms), host.used.ram_mb, _name_key(host.name))


ORDERS: dict[str, Callable[[_Host], tuple[Any, ...]]] = {"fewest VMs first": _fewest_vms,
                                                         "smallest VMs first": _smallest_vms}
MAX_FAILURES = 8  # computes that do not fit in a row before a batch is closed


def _order(hosts: dict[str, _Host], remaining: Iterable[str], order: str = "fewest VMs first") -> list[str]:
    return sorted(remaining, key=lambda n: ORDERS[order](hosts[n]))


def _shortage(hosts: dict[str, _Host], name: str) -> str:
    """Why `name` cannot be drained, in numbers."""
    host = hosts[name]
    others = [h for h in hosts.values() if h.name != name and h.enabled]
    if not others:
        return f"{name} is the last enabled nova-compute"
    free = total(h.capacity - h.used for h in others)
    need = host.used
    short = need.short(free)
    if short:
        return f"{name}'s {len(host.vms)} VM(s) need {', '.join(short)} on the other enabled computes"
    biggest = max(host.vms, key=lambda v: v.size.ram_mb)
    return (f"{name}'s VMs do not fit the other computes' free space piece by piece (its biggest, "
            f"{biggest.name or biggest.id}, needs {_num(biggest.size.ram_mb)} MB RAM and "
            f"{_num(biggest.size.vcpus)} vCPUs on one compute of a release at least {host.release})")


Schedule = Callable[[int, int], int]  # (batch index from 0, computes left) -> the most in this batch


def _compute_batches(computes: Sequence[Compute], schedule: Schedule, release: str, tiered: bool = True,
                     order: str = "fewest VMs first") -> list[tuple[list[str], list[Move]]]:
    """Greedy batches of at most `schedule(i, left)` computes (at most one OSD host each), in order."""
    hosts = _hosts(computes)
    remaining = [c.name for c in computes if c.upgrade]
    out: list[tuple[list[str], list[Move]]] = []
    while remaining:
        cap = max(1, schedule(len(out), len(remaining)))
        builder = _BatchBuilder(hosts, tiered)
        failures = 0
        has_osd = False
        for name in _order(hosts, remaining, order):
            if len(builder.members) >= cap or failures >= MAX_FAILURES:
                break
            if hosts[name].osd and has_osd:
                continue
            if builder.try_add(name):
                has_osd = has_osd or hosts[name].osd
                failures = 0
            else:
                failures += 1
        if not builder.members:  # the cheapest few failed: any compute at all?
            for name in _order(hosts, remaining):
                if builder.try_add(name):
                    break
        if not builder.members:
            reasons = "; ".join(_shortage(hosts, n) for n in _order(hosts, remaining)[:3])
            raise PlanError(f"capacity short: no compute left to upgrade can be emptied ({reasons})",
                            "free capacity first (add a compute, delete or resize VMs), or upgrade fewer "
                            "computes; nothing was changed")
        moves = builder.moves()
        _apply(hosts, builder.members, moves, release)
        out.append((sorted(builder.members, key=_name_key), moves))
        remaining = [n for n in remaining if n not in builder.members]
    return out


def _with_osd(batches: list[tuple[list[str], list[Move]]], computes: Sequence[Compute],
              osd_nodes: Sequence[str], merge: bool) -> list[tuple[list[str], list[str], list[Move]]]:
    """OSD-only nodes spread one per batch over the batches without an OSD host, then alone."""
    osd_hosts = {c.name for c in computes if c.osd}
    queue = [n for n in osd_nodes if n not in osd_hosts]
    out = []
    for members, moves in batches:
        osd = [n for n in members if n in osd_hosts]
        if not osd and queue and merge:
            osd = [queue.pop(0)]
        out.append((members, osd, moves))
    out += [([], [name], []) for name in queue]
    return out


def _costed(batches: list[tuple[list[str], list[str], list[Move]]], costs: Costs) -> list[Batch]:
    out = []
    for members, osd, moves in batches:
        drain = drain_seconds(moves, costs)
        out.append(Batch(members, osd, moves, drain,
                         drain + costs.reinstall_s + (costs.osd_settle_s if osd else 0.0)))
    return out


# --------------------------------------------------------------------------- plans and bounds


def capacity_batch_size(computes: Sequence[Compute]) -> int:
    """The most computes to reinstall that can be out at once: removing the smallest first, the rest
    (enabled, or holding VMs already) still hold every VM in every dimension; one enabled stays."""
    holders = [c for c in computes if c.enabled or c.vms]
    load = total(c.used for c in computes)
    room = total(c.capacity for c in holders)
    candidates = sorted((c for c in computes if c.upgrade), key=lambda c: (c.capacity.ram_mb, c.capacity.vcpus))
    enabled = sum(1 for c in computes if c.enabled)
    best = 0
    for c in candidates:
        room = room - c.capacity if (c.enabled or c.vms) else room
        if not load.fits_in(room):
            break
        if c.enabled and enabled - 1 < 1:
            break
        enabled -= 1 if c.enabled else 0
        best += 1
    return best


def lower_bound(computes: Sequence[Compute], osd_nodes: Sequence[str], costs: Costs) -> float:
    """No plan under the batch model is faster (see the module's docstring)."""
    todo = [c for c in computes if c.upgrade]
    osd_hosts = {c.name for c in computes if c.osd and c.upgrade} | set(osd_nodes)
    if not todo and not osd_hosts:
        return 0.0
    cap = max(1, capacity_batch_size(computes))
    batches = max(math.ceil(len(todo) / cap) if todo else 0, len(osd_hosts))
    slots = cap * max(1, costs.per_host)
    if costs.parallel:
        slots = min(slots, costs.parallel)
    moving = sum(len(c.vms) for c in todo)
    return batches * costs.reinstall_s + moving * costs.migration_s / slots + len(osd_hosts) * costs.osd_settle_s


def _fixed(cap: int) -> Schedule:
    return lambda index, left: cap


def _even(batches: int) -> Schedule:
    """`batches` batches as even as can be, the bigger ones last (more reinstalled targets by then)."""
    return lambda index, left: left // (batches - index) if index < batches - 1 else left


def _ramp(batches: int, share: float) -> Schedule:
    """A smaller first batch, then even ones: the first batch's VMs can only go to computes drained
    later (none is reinstalled yet), which then take longer to drain; later batches fill reinstalled ones."""
    def size(index: int, left: int) -> int:
        if index == 0:
            return max(1, round(left / batches * share))
        return left // (batches - index) if index < batches - 1 else left
    return size


def _schedules(computes: Sequence[Compute], osd_count: int) -> dict[str, Schedule]:
    """Batch sizes worth trying: the capacity bound as a cap; even splits into the fewest batches
    capacity allows, a few more, and as many as there are OSD hosts; the same with a smaller first batch."""
    n = sum(1 for c in computes if c.upgrade)
    if n == 0:
        return {"cap 1": _fixed(1)}
    bound = max(1, capacity_batch_size(computes))
    fewest = math.ceil(n / bound)
    out = {f"cap {bound}": _fixed(bound)}
    counts = set(range(fewest, min(n, fewest + 3) + 1))
    if fewest < osd_count <= n:
        counts.add(osd_count)
    for k in sorted(counts):
        out[f"{k} even batches"] = _even(k)
        if k > 1:
            for share in RAMP_SHARES:
                out[f"{k} batches, the first {share:.0%} of the others"] = _ramp(k, share)
    return out


def check(computes: Sequence[Compute], osd_nodes: Sequence[str]) -> None:
    """Refuse what no plan can fix: duplicate names, a VM too big for any other compute, the last
    enabled nova-compute."""
    names = [c.name for c in computes]
    twice = sorted({n for n in names if names.count(n) > 1} | (set(osd_nodes) & {c.name for c in computes
                                                                               if not c.osd}))
    if twice:
        raise PlanError(f"nodes listed twice: {', '.join(twice)}", "describe each node once")
    todo = [c for c in computes if c.upgrade]
    enabled = [c for c in computes if c.enabled]
    if todo and enabled and all(c.upgrade for c in enabled) and len(enabled) == 1:
        raise PlanError(f"{enabled[0].name} is the last enabled nova-compute: the cloud could schedule nothing "
                        "while it is reinstalled",
                        "add or enable another compute first; nothing was changed")
    for c in todo:
        for vm in c.vms:
            rank = release_rank(c.release)
            if not any(vm.size.fits_in(o.capacity) and release_rank(o.release if not o.upgrade else TARGET_RELEASE)
                       >= rank for o in computes if o.name != c.name and o.enabled):
                raise PlanError(f"VM {vm.name or vm.id} on {c.name} ({_num(vm.size.ram_mb)} MB RAM, "
                                f"{_num(vm.size.vcpus)} vCPUs) fits on no other enabled compute, even empty",
                                "resize it or add a bigger compute first; nothing was changed")


Strategy = tuple[bool, str]  # (reinstalled computes first, the order computes are tried in)
STRATEGIES: list[Strategy] = [(tiered, order) for tiered in (True, False) for order in ORDERS]


def _attempt(computes: Sequence[Compute], osd_nodes: Sequence[str], costs: Costs, release: str, merge_osd: bool,
             label: str, schedule: Schedule, strategy: Strategy) -> Plan:
    """One plan: a batch size schedule played greedily with one placement strategy."""
    tiered, order = strategy
    found = _compute_batches(computes, schedule, release, tiered, order)
    batches = _costed(_with_osd(found, computes, osd_nodes, merge_osd), costs)
    where = "reinstalled computes first" if tiered else "best fit anywhere"
    return Plan(batches, costs, sum(b.duration_s for b in batches), 0.0, release=release,
                schedule=f"{label}; {order}; {where}")


def plan(computes: Sequence[Compute], osd_nodes: Sequence[str] = (), costs: Costs | None = None, *,
         release: str = TARGET_RELEASE, max_batch: int | None = None, merge_osd: bool = True,
         baseline: bool = True) -> Plan:
    """The shortest plan found; PlanError when none keeps the rules.

    First every placement strategy with the two basic schedules (the capacity bound as a cap, and
    the fewest even batches), then every schedule with the strategy that did best: the strategies
    matter for how big batches can get, the schedules for the last few percent.
    `max_batch` caps the batch size (1: one at a time); `merge_osd` lets OSD nodes ride along in
    compute batches; `baseline` also computes the one-at-a-time duration for comparison."""
    costs = costs or Costs()
    check(computes, osd_nodes)
    osd_count = len({c.name for c in computes if c.osd and c.upgrade} | set(osd_nodes))
    schedules = _schedules(computes, osd_count) if max_batch is None else {f"cap {max_batch}": _fixed(max_batch)}
    basic = dict(list(schedules.items())[:2])
    found: dict[tuple[str, Strategy], Plan] = {}
    last_error: PlanError | None = None

    def attempt(label: str, strategy: Strategy) -> None:
        nonlocal last_error
        if (label, strategy) in found:
            return
        try:
            found[(label, strategy)] = _attempt(computes, osd_nodes, costs, release, merge_osd, label,
                                                schedules[label], strategy)
        except PlanError as exc:
            last_error = exc

    def score(key: tuple[str, Strategy]) -> tuple[float, int]:
        return (found[key].duration_s, found[key].migrations)

    for label, strategy in itertools.product(basic, STRATEGIES):
        attempt(label, strategy)
    if not found:
        assert last_error is not None
        raise last_error
    strategy = min(found, key=score)[1]
    for label in schedules:
        attempt(label, strategy)
    best = found[min(found, key=score)]
    best.lower_bound_s = lower_bound(computes, osd_nodes, costs)
    if baseline:
        best.one_at_a_time_s = plan(computes, osd_nodes, costs, release=release, max_batch=1, merge_osd=False,
                                    baseline=False).duration_s
    return best


def restrict(plan_: Plan, nodes: Iterable[str]) -> list[Batch]:
    """The plan's batches cut down to `nodes` (an operator's selection), empty batches dropped; the
    moves are those of the remaining computes (re-planned against the cloud before they run)."""
    wanted = set(nodes)
    out = []
    for batch in plan_.batches:
        computes = [n for n in batch.computes if n in wanted]
        osd = [n for n in batch.osd_nodes if n in wanted]
        if computes or osd:
            out.append(replace(batch, computes=computes, osd_nodes=osd,
                               moves=[m for m in batch.moves if m.source in computes]))
    return out


def moves_for(computes: Sequence[Compute], members: Sequence[str], release: str = TARGET_RELEASE) -> list[Move]:
    """Where the VMs of `members` go now, on the cloud as it is (just before a batch drains):
    the batch as planned, its moves recomputed; PlanError when they no longer fit."""
    hosts = _hosts(computes)
    unknown = sorted(set(members) - set(hosts))
    if unknown:
        raise PlanError(f"not computes of the cloud: {', '.join(unknown)}", "check the plan against nova")
    builder = _BatchBuilder(hosts)
    for name in sorted(members, key=lambda n: (len(hosts[n].vms), _name_key(n))):
        if not builder.try_add(name):
            raise PlanError(f"capacity short for the batch {', '.join(members)}: {_shortage(hosts, name)} "
                            "once the batch's other computes are out",
                            "free capacity (delete or resize VMs, add a compute), or upgrade fewer computes "
                            "at once (octane upgrade-node SEED NODE...); nothing of this batch was changed")
    return builder.moves()


def replay(computes: Sequence[Compute], osd_nodes: Sequence[str], batches: Sequence[Batch],
           release: str = TARGET_RELEASE) -> list[str]:
    """Every rule a plan breaks when played out on the cloud it was made for (empty: none).

    For tests, the benchmark, and to check a journaled plan against the cloud before acting."""
    hosts = _hosts(computes)
    problems: list[str] = []
    osd_all = set(osd_nodes) | {c.name for c in computes if c.osd and c.upgrade}
    wanted = {c.name for c in computes if c.upgrade} | osd_all
    seen: list[str] = []
    for index, batch in enumerate(batches, 1):
        where = f"batch {index}"
        members = set(batch.computes)
        seen += batch.nodes
        unknown = sorted(members - set(hosts))
        if unknown:
            problems.append(f"{where}: not computes: {unknown}")
            continue
        if len([n for n in batch.nodes if n in osd_all]) > 1:
            problems.append(f"{where}: more than one OSD host ({batch.nodes})")
        if members and not any(h.enabled for n, h in hosts.items() if n not in members):
            problems.append(f"{where}: no enabled nova-compute left outside the batch")
        free = {n: h.capacity - h.used for n, h in hosts.items()}
        by_id = {vm.id: (vm, n) for n in members for vm in hosts[n].vms}
        for move in batch.moves:
            found = by_id.pop(move.vm, None)
            target = hosts.get(move.target)
            if found is None or found[1] != move.source:
                problems.append(f"{where}: VM {move.vm} is not on {move.source}")
                continue
            if target is None or move.target in members or not target.enabled:
                problems.append(f"{where}: VM {move.vm} goes to {move.target}, not an enabled compute outside the batch")
                continue
            if release_rank(target.release) < release_rank(hosts[move.source].release):
                problems.append(f"{where}: VM {move.vm} goes from {hosts[move.source].release} to {target.release}")
            vm = found[0]
            if not vm.size.fits_in(free[move.target]):
                problems.append(f"{where}: VM {move.vm} does not fit {move.target}: "
                                f"{', '.join(vm.size.short(free[move.target]))}")
            free[move.target] = free[move.target] - vm.size
            hosts[move.source].remove(vm)
            target.add(vm)
        problems += [f"{where}: VM {vm_id} stays on {source}, which is reinstalled" for vm_id, (_, source)
                     in sorted(by_id.items())]
        for name in members:
            hosts[name].release, hosts[name].done = release, True
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        problems.append(f"reinstalled twice: {twice}")
    missing = sorted(wanted - set(seen), key=_name_key)
    if missing:
        problems.append(f"never reinstalled: {missing}")
    return problems
