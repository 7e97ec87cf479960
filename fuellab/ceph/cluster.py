"""The running Ceph clusters: monitors, their quorums and what they know of the OSDs.

Nothing here is a flag saying "healthy": `refresh` derives the picture from
the world and the nodes' files every time it runs (each `ceph` command, and the
background monitor every few lab seconds):

- A monitor runs where the upstart job `ceph-mon id=<name>` runs on an online
  node. It starts only if its data directory holds a store whose
  `cluster_uuid` equals its monmap's fsid and a `mon.` keyring (else it dies,
  as check_fsid makes it, and upstart gives up: the job is removed and the
  reason logged in /var/log/ceph/ceph-mon.<name>.log). It listens on the
  address its monmap entry names, and only while its node holds that address
  live (fuellab.network); otherwise it keeps retrying and counts for nobody.
- Two monitors talk when they listen in the same management segment, carry the
  same fsid and `mon.` key, and each lists the other at the address it listens
  on. A group of monitors that talk forms a quorum when it is a majority of
  the newest monmap among them. The quorum's state is its newest store (Paxos'
  highest version); it is copied to the members that lag, and every change is
  committed to all members' stores.
- An OSD is up when its job `ceph-osd id=N` runs, its data directory is
  mounted at /var/lib/ceph/osd/ceph-N with `whoami` N, its `ceph_fsid` is
  the quorum's fsid, its keyring holds the key the quorum's auth database
  has for osd.N, and its node's /etc/ceph/ceph.conf names a monitor of that
  quorum it can reach. The quorum marks it down otherwise; down longer than
  mon_osd_down_out_interval (300 lab s) without the noout flag, it goes out,
  and the PGs it held are placed elsewhere (fuellab.ceph.data moves the data).
  The monitors record that in the cluster log (/var/log/ceph/ceph.log on each
  member: "osd.3 out (down for 300.000000)"), where an operator finds it long
  after the data moved back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuellab.ceph import conf as cephconf
from fuellab.ceph import data, keys, placement, store
from fuellab.ceph.timefmt import log_prefix, stamp
from fuellab.network import AddressMap, Holder, Vertex
from fuellab.world import Node, World

log = logging.getLogger("fuellab.ceph")

OSD_DATA = "/var/lib/ceph/osd"
CONF = "/etc/ceph/ceph.conf"
DOWN_OUT_INTERVAL = 300.0  # mon_osd_down_out_interval
STUCK_THRESHOLD = 300.0  # mon_pg_stuck_threshold
MON_JOB = "ceph-mon id="
OSD_JOB = "ceph-osd id="


def osd_dir(osd_id: int) -> str:
    return f"{OSD_DATA}/ceph-{osd_id}"


@dataclass(eq=False)
class Mon:
    node: Node
    name: str
    path: Path
    state: dict[str, Any]
    key: str
    holder: Holder | None = None  # where it listens; None: its node does not hold the address
    # A monitor missing from its own monmap (made from a map fetched before `ceph mon add`)
    # probes its peers and takes the address their monmap gives it.
    joining: tuple[str, int] | None = None

    @property
    def fsid(self) -> str:
        return self.state["monmap"]["fsid"]

    @property
    def entry(self) -> dict[str, Any] | None:
        return store.mon_entry(self.state["monmap"], self.name)

    @property
    def ip_port(self) -> tuple[str, int] | None:
        entry = self.entry
        return store.split_addr(entry["addr"]) if entry else self.joining

    @property
    def segment(self) -> Vertex | None:
        return self.holder.segment if self.holder else None


@dataclass(eq=False)
class Quorum:
    members: list[Mon]  # by rank
    state: dict[str, Any]

    @property
    def fsid(self) -> str:
        return self.state["monmap"]["fsid"]

    @property
    def monmap(self) -> dict[str, Any]:
        return self.state["monmap"]

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    @property
    def ranks(self) -> list[int]:
        return [store.rank_of(self.monmap, m.name) for m in self.members]

    @property
    def leader(self) -> Mon:
        return self.members[0]

    def commit(self) -> None:
        """A Paxos round: the next version of the state is written to every member."""
        self.state["version"] = int(self.state.get("version", 0)) + 1
        for mon in self.members:
            store.save(mon.path, self.state)
            mon.state = store.clone(self.state)


@dataclass
class Reach:
    """What a client or daemon on a node gets when it dials its ceph.conf's monitors."""

    answered: list[Mon] = field(default_factory=list)  # monitors listening at those addresses
    refused: list[tuple[str, int]] = field(default_factory=list)  # nobody listening there


class View:
    """One consistent picture of every Ceph cluster in the lab, at one lab instant."""

    def __init__(self, world: World, addresses: AddressMap) -> None:
        self.world = world
        self.addresses = addresses
        self.now = world.clock.now()
        self.holders = addresses.holders()
        self.mons: list[Mon] = []
        self.quorums: list[Quorum] = []
        self.next_deadline: float | None = None
        self._by_addr: dict[tuple[str, int], list[Mon]] = {}
        self._confs: dict[int, cephconf.CephConf | None] = {}

    # ------------------------------------------------------------------ addresses

    def segment_of(self, node: Node) -> Vertex | None:
        """The management segment a node's Ceph traffic leaves on (Ceph's public network)."""
        ip = node.ips.get("management")
        for holder in self.holders.get(ip or "", []):
            if holder.node_id == node.id:
                return holder.segment
        return None

    def index(self) -> None:
        self._by_addr = {}
        for mon in self.mons:
            if mon.holder is not None and mon.ip_port is not None:
                self._by_addr.setdefault(mon.ip_port, []).append(mon)

    def dial(self, node: Node, addrs: list[tuple[str, int]]) -> Reach:
        reach = Reach()
        segment = self.segment_of(node)
        for ip, port in addrs:
            found = [m for m in self._by_addr.get((ip, port), []) if segment is not None and m.segment == segment]
            if found:
                # Two monitors answering one address is an IP conflict: the lowest node wins the ARP race.
                reach.answered.append(min(found, key=lambda m: m.node.id))
            else:
                reach.refused.append((ip, port))
        return reach

    def quorum_of(self, mon: Mon) -> Quorum | None:
        return next((q for q in self.quorums if any(m is mon for m in q.members)), None)

    def quorums_reached(self, reach: Reach) -> list[Quorum]:
        out: list[Quorum] = []
        for mon in reach.answered:
            q = self.quorum_of(mon)
            if q is not None and q not in out:
                out.append(q)
        return out

    # ------------------------------------------------------------------ node files

    def conf_of(self, node: Node) -> cephconf.CephConf | None:
        if node.id not in self._confs:
            self._confs[node.id] = read_conf(self.world, node, CONF)
        return self._confs[node.id]


def read_conf(world: World, node: Node, path: str) -> cephconf.CephConf | None:
    try:
        return cephconf.parse(store.resolve(world, node, path).read_text())
    except (OSError, UnicodeDecodeError):
        return None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


# --------------------------------------------------------------------------- monitors


def _fail_mon(world: World, node: Node, name: str, message: str) -> None:
    """The daemon exits at start; upstart respawns it until its limit, then gives up."""
    job = f"{MON_JOB}{name}"
    if job in node.jobs:
        node.jobs.remove(job)
        world.changed()
    logfile = store.resolve(world, node, f"/var/log/ceph/ceph-mon.{name}.log")
    try:
        logfile.parent.mkdir(parents=True, exist_ok=True)
        with logfile.open("a") as handle:
            handle.write(f"{log_prefix(world.clock.now(), level=-1)}{message}\n")
    except OSError:
        pass
    log.info("ceph-mon %s on %s did not start: %s", name, node.hostname, message)


def _start_mon(world: World, node: Node, name: str) -> Mon | None:
    path = store.mon_path(world, node, name)
    try:
        state = store.load(path)
    except store.StoreError as exc:
        _fail_mon(world, node, name, str(exc))
        return None
    uuid = state.get("cluster_uuid")
    if uuid and uuid != state["monmap"].get("fsid"):
        _fail_mon(world, node, name, f"error: cluster_uuid file exists with value {uuid}, "
                                     f"!= our uuid {state['monmap'].get('fsid')}")
        return None
    ring = read_text(path / "keyring")
    entity = keys.parse_keyring(ring).get("mon.") if ring is not None else None
    if entity is None or not entity.key:
        _fail_mon(world, node, name, f"auth: error reading file: {store.mon_dir(name)}/keyring: "
                                     "can't open keyring: (2) No such file or directory")
        return None
    return Mon(node, name, path, state, entity.key)


def ceph_jobs(world: World) -> tuple[list[tuple[Node, str]], dict[int, list[Node]]]:
    """Monitor instances and OSD instances started on online nodes, in one pass over the nodes.

    Ceph daemons are plain upstart jobs on Fuel nodes (pacemaker never runs them), so the
    node's started jobs are what runs (fuellab.services.running_jobs minus pacemaker's).
    """
    mons: list[tuple[Node, str]] = []
    osds: dict[int, list[Node]] = {}
    for node in sorted(world.nodes.values(), key=lambda n: n.id):
        if not node.online:
            continue
        for job in node.jobs:
            if not job.startswith("ceph-"):
                continue
            if job.startswith(MON_JOB):
                mons.append((node, job[len(MON_JOB):]))
            elif job.startswith(OSD_JOB) and job[len(OSD_JOB):].isdigit():
                osds.setdefault(int(job[len(OSD_JOB):]), []).append(node)
    return mons, osds


def _address_given_by_peers(view: View, mon: Mon) -> tuple[str, int] | None:
    for other in view.mons:
        if other is not mon and other.fsid == mon.fsid and other.key == mon.key:
            entry = store.mon_entry(other.state["monmap"], mon.name)
            if entry is not None:
                return store.split_addr(entry["addr"])
    return None


def _talk(a: Mon, b: Mon) -> bool:
    if a.fsid != b.fsid or a.key != b.key or a.segment is None or a.segment != b.segment:
        return False
    ea, eb = store.mon_entry(a.state["monmap"], b.name), store.mon_entry(b.state["monmap"], a.name)
    return (ea is not None and eb is not None and store.split_addr(ea["addr"]) == b.ip_port
            and store.split_addr(eb["addr"]) == a.ip_port)


def _form_quorums(view: View) -> None:
    bound = [m for m in view.mons if m.holder is not None]
    groups: list[list[Mon]] = []
    for mon in bound:
        joined = [g for g in groups if any(_talk(mon, other) for other in g)]
        merged = [mon] + [m for g in joined for m in g]
        groups = [g for g in groups if g not in joined] + [merged]
    for group in groups:
        newest = max(group, key=lambda m: (int(m.state.get("version", 0)), m.state["monmap"]["epoch"],
                                           -m.node.id))
        monmap = newest.state["monmap"]
        members: dict[str, Mon] = {}
        for mon in sorted(group, key=lambda m: m.node.id):
            if store.mon_entry(monmap, mon.name) is not None:
                members.setdefault(mon.name, mon)
        if len(members) * 2 <= len(monmap["mons"]):
            continue
        ranked = sorted(members.values(), key=lambda m: store.rank_of(monmap, m.name))
        quorum = Quorum(ranked, store.clone(newest.state))
        _sync(quorum)
        view.quorums.append(quorum)


def _sync(quorum: Quorum) -> None:
    """Lagging members take the newest state; a changed membership is a new election."""
    state = quorum.state
    for mon in quorum.members:
        if mon.state != state:
            store.save(mon.path, state)
            mon.state = store.clone(state)
    if state.get("quorum") != quorum.names:
        state["election_epoch"] = int(state.get("election_epoch", 0)) + 2
        state["quorum"] = quorum.names
        quorum.commit()


# --------------------------------------------------------------------------- OSDs


def osd_data_path(world: World, node: Node, osd_id: int) -> Path | None:
    rel = node.mounts.get(osd_dir(osd_id))
    return world.node_dir(node) / rel if rel else None


def _osd_alive(view: View, quorum: Quorum, osd_id: int, node: Node) -> Path | None:
    """The OSD's data directory when the daemon on `node` is up in `quorum`'s cluster."""
    data = osd_data_path(view.world, node, osd_id)
    if data is None:
        return None
    whoami, fsid, ring = (read_text(data / name) for name in ("whoami", "ceph_fsid", "keyring"))
    if (whoami or "").strip() != str(osd_id) or (fsid or "").strip() != quorum.fsid or ring is None:
        return None
    entity = keys.parse_keyring(ring).get(f"osd.{osd_id}")
    known = quorum.state["auth"].get(f"osd.{osd_id}", {}).get("key")
    if entity is None or not known or entity.key != known:
        return None
    conf = view.conf_of(node)
    if conf is None:
        return None
    reach = view.dial(node, conf.mon_addrs(f"osd.{osd_id}"))
    return data if quorum in view.quorums_reached(reach) else None


def down_out_interval(view: View, quorum: Quorum) -> float:
    conf = view.conf_of(quorum.leader.node)
    value = conf.get("mon_osd_down_out_interval", f"mon.{quorum.leader.name}") if conf else None
    try:
        return float(value) if value is not None else DOWN_OUT_INTERVAL
    except ValueError:
        return DOWN_OUT_INTERVAL


def _update_osds(view: View, quorum: Quorum, jobs: dict[int, list[Node]]) -> bool:
    """Mark OSDs up/down/in/out as the monitors would; True when the osdmap changed."""
    osdmap = quorum.state["osdmap"]
    flags = set(osdmap.get("flags", []))
    now = view.now
    interval = down_out_interval(view, quorum)
    before_in = placement.in_set(osdmap["osds"])
    before_up = {int(i) for i, o in osdmap["osds"].items() if o.get("up")}
    changed = False
    deadline: float | None = None
    for key, osd in sorted(osdmap["osds"].items(), key=lambda kv: int(kv[0])):
        osd_id = int(key)
        alive = None
        for node in jobs.get(osd_id, []):
            path = _osd_alive(view, quorum, osd_id, node)
            if path is not None:
                alive = (node, path)
                break
        if alive is not None and not osd.get("up") and "noup" not in flags:
            node, path = alive
            osd.update(up=True, down_at=None, up_from=osdmap["epoch"] + 1, host=node.hostname,
                       data=str(path.relative_to(view.world.node_dir(node))))
            if not osd.get("in") and osd.get("auto_out") and "noin" not in flags:
                osd.update({"in": True, "auto_out": False, "weight": 1.0})
            changed = True
        elif alive is None and osd.get("up") and "nodown" not in flags:
            osd.update(up=False, down_at=now, down_epoch=osdmap["epoch"] + 1)
            changed = True
        elif alive is not None and osd.get("host") != alive[0].hostname:
            osd["host"] = alive[0].hostname  # osd_crush_update_on_start
            changed = True
        if not osd.get("up") and osd.get("in") and "noout" not in flags:
            due = float(osd.get("down_at") or now) + interval
            if now >= due:
                osd.update({"in": False, "auto_out": True, "weight": 0.0, "out_at": now})
                cluster_log(view, quorum, f"osd.{osd_id} out (down for {now - float(osd.get('down_at') or now):.6f})")
                changed = True
            else:
                deadline = due if deadline is None else min(deadline, due)
    if deadline is not None:
        view.next_deadline = deadline if view.next_deadline is None else min(view.next_deadline, deadline)
    if changed:
        osdmap["epoch"] = int(osdmap["epoch"]) + 1
        osdmap["modified"] = now
        data.reconcile(view, quorum, before_in, before_up)
    return changed


CLUSTER_LOG = "/var/log/ceph/ceph.log"  # mon_cluster_log_file


def cluster_log(view: View, quorum: Quorum, message: str, level: str = "INF") -> None:
    """One entry of the cluster log, as LogMonitor writes it on every monitor of the quorum:
    `<stamp> mon.<rank> <addr>/0 <seq> : [INF] <message>` (what `ceph -w` shows, kept on disk)."""
    seq = int(quorum.state.get("log_seq", 0)) + 1
    quorum.state["log_seq"] = seq
    ip_port = quorum.leader.ip_port
    who = f"mon.{quorum.ranks[0]} {ip_port[0]}:{ip_port[1]}/0" if ip_port else f"mon.{quorum.ranks[0]}"
    line = f"{stamp(view.now)} {who} {seq} : [{level}] {message}\n"
    for mon in quorum.members:
        path = store.resolve(view.world, mon.node, CLUSTER_LOG)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as handle:
                handle.write(line)
        except OSError:
            log.warning("cluster log of mon.%s on %s not written", mon.name, mon.node.hostname)


# --------------------------------------------------------------------------- refresh


def refresh(world: World, addresses: AddressMap | None = None) -> View:
    """Look at the lab now: start/fail monitors, form quorums, sync stores, mark OSDs."""
    view = View(world, addresses or AddressMap(world))
    mons, jobs = ceph_jobs(world)
    for node, name in mons:
        mon = _start_mon(world, node, name)
        if mon is not None:
            view.mons.append(mon)
    for mon in view.mons:
        if mon.entry is None:
            mon.joining = _address_given_by_peers(view, mon)
        if mon.ip_port is not None:
            ip = mon.ip_port[0]
            mon.holder = next((h for h in view.holders.get(ip, []) if h.node_id == mon.node.id), None)
    view.index()
    _form_quorums(view)
    for quorum in view.quorums:
        if _update_osds(view, quorum, jobs):
            quorum.commit()
    return view
