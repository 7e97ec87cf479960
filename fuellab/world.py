"""The datacenter model: networks, nodes, clusters, releases, tasks, faults, ledger.

The world lives in memory inside the lab process and is persisted to one SQLite
file (`world.db`) so that it survives `fuellab down` / `fuellab up`. Node
filesystems are real folders under `nodes/<hostname>/` (see `paths`).

Every mutation must be followed by `World.changed()`: it bumps the version
(caches keyed on it, such as the address map, are recomputed) and marks the
world dirty so the flusher writes it out.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from fuellab.clock import Clock

T = TypeVar("T")


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a dataclass from a dict, ignoring unknown keys (older lab files)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


# --------------------------------------------------------------------------- networks


@functools.lru_cache(maxsize=64)
def _network_base(cidr: str) -> int:
    return int(ipaddress.ip_network(cidr).network_address)


@dataclass
class Network:
    """A physical L2 network of the datacenter and the address block it uses."""

    name: str  # admin | management | public | storage | floating
    cidr: str
    nic: str  # the node NIC whose wire carries it
    bridge: str  # the OVS bridge that holds a node's address on it ("" for admin)
    vlan: int | None = None

    def address(self, index: int) -> str:
        # Skip x.y.z.0 and x.y.z.255 so every address looks like a host address.
        block, host = divmod(index - 1, 254)
        return str(ipaddress.IPv4Address(_network_base(self.cidr) + block * 256 + host + 1))

    def index(self, address: str) -> int:
        """The inverse of `address` (hot in address allocation: parsed by hand)."""
        a, b, c, d = (int(x) for x in address.split("."))
        offset = ((a << 24) | (b << 16) | (c << 8) | d) - _network_base(self.cidr)
        block, host = divmod(offset, 256)
        return block * 254 + host


def default_networks(prefix: int) -> dict[str, Network]:
    """One /16 block per network starting at 127.<prefix>: room for thousands of nodes."""
    return {
        "admin": Network("admin", f"127.{prefix}.0.0/16", nic="eth0", bridge=""),
        "management": Network(
            "management", f"127.{prefix + 1}.0.0/16", nic="eth2", bridge="br-mgmt", vlan=101
        ),
        "public": Network("public", f"127.{prefix + 2}.0.0/16", nic="eth1", bridge="br-ex"),
        "storage": Network(
            "storage", f"127.{prefix + 3}.0.0/16", nic="eth2", bridge="br-storage", vlan=102
        ),
        "floating": Network("floating", f"127.{prefix + 4}.0.0/16", nic="eth1", bridge="br-ex"),
    }


# --------------------------------------------------------------------------- nodes


@dataclass
class Interface:
    name: str
    mac: str
    up: bool = True
    assigned_networks: list[str] = field(default_factory=list)
    speed: int = 10000


@dataclass
class Volume:
    name: str  # os | ceph | vm | cinder | mysql | logs ...
    size: int  # MiB
    keep_data: bool = False


@dataclass
class Disk:
    name: str  # sda, sdb ...
    size: int  # MiB
    volumes: list[Volume] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Disk:
        disk = _from_dict(cls, data)
        disk.volumes = [v if isinstance(v, Volume) else _from_dict(Volume, v) for v in disk.volumes]
        return disk

    @property
    def is_os(self) -> bool:
        return any(v.name == "os" for v in self.volumes)


@dataclass
class Port:
    """An OVS port: `system` (a NIC), `internal`, `patch` (peer=...) or `gre` (remote_ip=...)."""

    name: str
    type: str = "system"
    options: dict[str, str] = field(default_factory=dict)
    tag: int | None = None


@dataclass
class Node:
    id: int
    hostname: str  # node-<id>
    mac: str
    status: str = "discover"  # discover|provisioning|provisioned|deploying|ready|error|removing|stopped
    online: bool = True
    cluster: int | None = None
    roles: list[str] = field(default_factory=list)
    pending_roles: list[str] = field(default_factory=list)
    pending_addition: bool = False
    pending_deletion: bool = False
    progress: int = 0
    error_type: str | None = None
    group_id: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    cpu: int = 8
    memory_mb: int = 32768
    interfaces: list[Interface] = field(default_factory=list)
    disks: list[Disk] = field(default_factory=list)
    ips: dict[str, str] = field(default_factory=dict)  # network name -> address
    ovs: dict[str, list[Port]] = field(default_factory=dict)  # bridge -> ports
    release: str | None = None  # release version the OS disk was provisioned with
    jobs: list[str] = field(default_factory=list)  # upstart jobs started by hand or at boot
    mounts: dict[str, str] = field(default_factory=dict)  # mount point -> "disks/<dev>/<volume>"
    booted_at: float = 0.0  # lab time of the last boot
    # Upstart jobs (started) by hand since boot: job -> lab time of its last start or restart. A
    # restarted daemon is a new process (start time, pid) that read its configuration anew.
    started: dict[str, float] = field(default_factory=dict)
    # Running libvirt guests (fuellab.dataplane): domain name -> {"uuid", "state", "since"}.
    # Runtime state: a host that goes down or is re-provisioned loses them.
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        node = _from_dict(cls, data)
        node.interfaces = [_from_dict(Interface, i) for i in data.get("interfaces", [])]
        node.disks = [Disk.from_dict(d) for d in data.get("disks", [])]
        node.ovs = {
            br: [_from_dict(Port, p) for p in ports] for br, ports in data.get("ovs", {}).items()
        }
        return node

    @property
    def name(self) -> str:
        return self.hostname

    @property
    def admin_ip(self) -> str:
        return self.ips["admin"]

    def interface(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def has_role(self, role: str) -> bool:
        return role in self.roles


# --------------------------------------------------------------------------- master side


@dataclass
class Release:
    id: int
    name: str
    version: str
    operating_system: str = "Ubuntu"
    state: str = "available"
    is_deployable: bool = True
    description: str = ""
    roles: list[str] = field(default_factory=list)


DEFAULT_EXTENSIONS = ("volume_manager",)  # what a new env has enabled; cluster_upgrade is not


@dataclass
class Cluster:
    id: int
    name: str
    release_id: int
    mode: str = "ha_compact"
    status: str = "new"
    net_provider: str = "neutron"
    net_segment_type: str = "vlan"
    fuel_version: str = "6.1"
    is_locked: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)  # Fuel's "editable" tree
    generated: dict[str, Any] = field(default_factory=dict)  # passwords, keys: never shown raw
    network_config: dict[str, Any] = field(default_factory=dict)
    vips: dict[str, str] = field(default_factory=dict)  # "public"/"management" -> address
    upgrade: dict[str, int] = field(default_factory=dict)  # orig_cluster_id / seed_cluster_id
    # Nailgun extensions enabled for the env (see fuellab.fuel.handlers.extensions); envs of a
    # lab file older than the field load with the default.
    extensions: list[str] = field(default_factory=lambda: list(DEFAULT_EXTENSIONS))
    deployment_info: dict[str, Any] | None = None  # operator-uploaded facts, by node id
    pacemaker: dict[str, Any] = field(default_factory=dict)  # see fuellab.services
    galera: dict[str, Any] = field(default_factory=dict)  # server state, see fuellab.galera


@dataclass
class Task:
    id: int
    uuid: str
    name: str  # provision | deployment | deploy | cluster_deletion | upgrade ...
    cluster: int | None
    status: str = "pending"  # pending|running|ready|error
    progress: int = 0
    message: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    time_start: float | None = None
    time_end: float | None = None
    nodes: list[int] = field(default_factory=list)


@dataclass
class Fault:
    """An injected failure: on `node` (hostname, `master`, or `*`), for operation `op` (glob)."""

    id: int
    node: str
    op: str
    kind: str  # ssh-drop | fail | hang | api-5xx | task-error | provision-fail
    times: int | None = None  # None: until cleared
    message: str = ""
    hits: int = 0


# --------------------------------------------------------------------------- the world

_KINDS: dict[str, type] = {
    "node": Node,
    "cluster": Cluster,
    "release": Release,
    "task": Task,
    "fault": Fault,
}


class World:
    """Everything the lab knows, persisted in `<dir>/world.db`."""

    def __init__(self, lab_dir: Path, clock: Clock | None = None) -> None:
        self.dir = Path(lab_dir)
        self.clock = clock or Clock()
        self.meta: dict[str, Any] = {}
        self.networks: dict[str, Network] = {}
        self.nodes: dict[int, Node] = {}
        self.clusters: dict[int, Cluster] = {}
        self.releases: dict[int, Release] = {}
        self.tasks: dict[int, Task] = {}
        self.faults: dict[int, Fault] = {}
        self.ledger: list[dict[str, Any]] = []
        self.version = 0
        self.dirty = False
        self._saved_ids: dict[str, set[int]] = {k: set() for k in _KINDS}
        self._saved_rows: dict[str, dict[int, str]] = {}
        self._saved_ledger = 0
        # Called after every change (fuellab.dataplane re-derives reachability from them).
        self.listeners: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ paths

    @property
    def db_path(self) -> Path:
        return self.dir / "world.db"

    def node_dir(self, node: Node) -> Path:
        return self.dir / "nodes" / node.hostname

    def rootfs(self, node: Node) -> Path:
        return self.node_dir(node) / "rootfs"

    def disk_dir(self, node: Node, disk: str) -> Path:
        return self.node_dir(node) / "disks" / disk

    # ------------------------------------------------------------------ change tracking

    def changed(self) -> None:
        self.version += 1
        self.dirty = True
        for listener in self.listeners:
            listener()

    def next_id(self, kind: str) -> int:
        key = f"next_{kind}_id"
        value = int(self.meta.get(key, 1))
        self.meta[key] = value + 1
        return value

    def record(self, kind: str, **data: Any) -> dict[str, Any]:
        """Append an event to the lab's ledger (conflicts, lost writes, bytes moved...)."""
        entry = {"kind": kind, "at": round(self.clock.now(), 3), **data}
        self.ledger.append(entry)
        self.changed()
        return entry

    # ------------------------------------------------------------------ lookups

    def node_by_hostname(self, hostname: str) -> Node | None:
        return next((n for n in self.nodes.values() if n.hostname == hostname), None)

    def node_by_admin_ip(self, ip: str) -> Node | None:
        return self._admin_index().get(ip)

    def _admin_index(self) -> dict[str, Node]:
        cache = getattr(self, "_admin_cache", None)
        if cache is None or cache[0] != len(self.nodes):
            cache = (len(self.nodes), {n.ips.get("admin"): n for n in self.nodes.values()})
            self._admin_cache = cache
        return cache[1]

    def cluster_nodes(self, cluster_id: int) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.cluster == cluster_id), key=lambda n: n.id)

    def release_by_version(self, version: str) -> Release | None:
        return next((r for r in self.releases.values() if r.version == version), None)

    def cluster_release(self, cluster: Cluster) -> Release:
        return self.releases[cluster.release_id]

    @property
    def master_ip(self) -> str:
        return self.meta["master_ip"]

    # ------------------------------------------------------------------ persistence

    def _connect(self) -> sqlite3.Connection:
        self.dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS entities (kind TEXT, id INTEGER, data TEXT, "
            "PRIMARY KEY (kind, id))"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY, data TEXT)")
        return conn

    def save(self) -> None:
        """Write the whole world out in one transaction."""
        self.meta["clock_offset"] = self.clock.freeze()
        self.meta["networks"] = {k: asdict(v) for k, v in self.networks.items()}
        conn = self._connect()
        try:
            with conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in self.meta.items()],
                )
                for kind, store in self._stores().items():
                    # Write only rows whose serialised form changed since the last save:
                    # a task tick on a 500-node lab touches a handful of nodes.
                    saved = self._saved_rows.setdefault(kind, {})
                    rows = []
                    for i, obj in store.items():
                        text = json.dumps(asdict(obj))
                        if saved.get(i) != text:
                            rows.append((kind, i, text))
                            saved[i] = text
                    conn.executemany("INSERT OR REPLACE INTO entities VALUES (?, ?, ?)", rows)
                    gone = self._saved_ids[kind] - set(store)
                    conn.executemany(
                        "DELETE FROM entities WHERE kind = ? AND id = ?", [(kind, i) for i in gone]
                    )
                    for i in gone:
                        saved.pop(i, None)
                    self._saved_ids[kind] = set(store)
                new = self.ledger[self._saved_ledger :]
                conn.executemany(
                    "INSERT INTO ledger VALUES (?, ?)",
                    [(self._saved_ledger + i + 1, json.dumps(e)) for i, e in enumerate(new)],
                )
                self._saved_ledger = len(self.ledger)
        finally:
            conn.close()
        self.db_path.chmod(0o600)  # cluster passwords live in it
        self.dirty = False

    def load(self) -> World:
        conn = self._connect()
        try:
            self.meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
            stores = self._stores()
            for store in stores.values():
                store.clear()
            self._saved_rows = {k: {} for k in _KINDS}
            for kind, i, data in conn.execute("SELECT kind, id, data FROM entities"):
                self._saved_rows[kind][int(i)] = data
                cls = _KINDS[kind]
                raw = json.loads(data)
                obj = cls.from_dict(raw) if hasattr(cls, "from_dict") else _from_dict(cls, raw)
                stores[kind][int(i)] = obj
            self._saved_ids = {k: set(v) for k, v in stores.items()}
            self.ledger = [json.loads(d) for (d,) in conn.execute("SELECT data FROM ledger ORDER BY seq")]
            self._saved_ledger = len(self.ledger)
        finally:
            conn.close()
        self.networks = {k: _from_dict(Network, v) for k, v in self.meta.get("networks", {}).items()}
        self.clock.offset = float(self.meta.get("clock_offset", 0.0))
        self.clock.factor = float(self.meta.get("time_factor", self.clock.factor))
        self.clock.durations.update(self.meta.get("durations", {}))
        self._admin_cache = None
        self.changed()
        self.dirty = False
        return self

    def _stores(self) -> dict[str, dict[int, Any]]:
        return {
            "node": self.nodes,
            "cluster": self.clusters,
            "release": self.releases,
            "task": self.tasks,
            "fault": self.faults,
        }
