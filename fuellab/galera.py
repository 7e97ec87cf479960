"""Galera per environment: the env's service databases and who serves them.

Files: `<lab dir>/envdbs/env-<cluster id>/<database>.sqlite`, one SQLite file
per MySQL database (nova, keystone, neutron, cinder, glance, heat, and any
database created with `CREATE DATABASE`). Galera replicates synchronously, so
one copy per env stands for every member's. Tables and schema versions are
defined in fuellab.openstack.schema; the rows a deployment leaves are in
fuellab.openstack.seed.

Who answers: a controller's mysqld answers only while the `mysql` job runs on
it (pacemaker's clone_p_mysql places it on the quorate members, see
fuellab.services) and it belongs to the env's primary component: the env's
controllers running mysqld that see each other on the management segment and
form a majority of the env's controllers. Isolated seed controllers, joined by
their GRE overlay, form their own primary component, which is by design.

Server state lives in `Cluster.galera` (world.db):

- `read_only`: hostname -> {"booted_at", "set_at"}: `SET GLOBAL read_only=ON`
  is a per-server, non-persistent setting, as in MySQL: it holds on the node it
  was set on until set off, the node reboots, pacemaker restarts p_mysql or the
  node's cluster stack stops (`pcs cluster stop|kill`: mysqld dies with it).
  Accounts with SUPER (root) are not bound by it; the services' accounts are.
- `writes`: database -> {"count", "last_at"}: committed writes, lab time.

The ledger (`world.record`) gets the rare events: `db_created`, `db_dropped`,
`db_sync` (a *-manage sync that changed a schema: from, to, node) and
`mysql_read_only` (a server's read_only set on or off).

API for the rest of the lab (open per operation, never hold a connection
across an `await`):

- `connect(world, cluster_id, "nova")`: a raw connection (lab internals);
- `read(...)` / `write(...)`: what a service does through the management VIP:
  needs the primary component; `write` is refused while the writer node (the
  first serving controller, HAProxy's active mysqld backend) is read-only,
  commits and counts the write;
- `on_deploy(world, cluster, node)`: deployment's effect (see there).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fuellab import network, services
from fuellab.world import Cluster, Node, World

if TYPE_CHECKING:
    from fuellab.lab import Lab

SERVICES = ("nova", "keystone", "neutron", "cinder", "glance", "heat")
SYSTEM_DATABASES = ("information_schema", "mysql", "performance_schema")
SOCKET = "/var/run/mysqld/mysqld.sock"
MYSQLD_PORT = 3307  # mysqld binds the node's management address
HAPROXY_PORT = 3306  # HAProxy's mysqld frontend on the management VIP
SERVER_VERSION = "5.6.23-1~u14.04+mos1"
_NAME_RE = re.compile(r"^[A-Za-z0-9_$]{1,64}$")


# --------------------------------------------------------------------------- errors


class GaleraError(Exception):
    """A MySQL server error: `code`, `state` and the server's message."""

    code = 1105
    state = "HY000"

    def __init__(self, message: str, code: int | None = None, state: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if state is not None:
            self.state = state

    @property
    def message(self) -> str:
        return str(self)


class UnknownDatabase(GaleraError):
    code, state = 1049, "42000"

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown database '{name}'")
        self.name = name


class ReadOnly(GaleraError):
    code, state = 1290, "HY000"

    def __init__(self) -> None:
        super().__init__("The MySQL server is running with the --read-only option "
                         "so it cannot execute this statement")


class AccessDenied(GaleraError):
    code, state = 1045, "28000"


class ConnectError(GaleraError):
    """A client-side connection failure (2002, 2003, 2005, 2013)."""


class NotServing(ConnectError):
    """The env has no primary component: nothing answers for its databases."""


# --------------------------------------------------------------------------- files


def env_dir(world: World, cluster_id: int) -> Path:
    return world.dir / "envdbs" / f"env-{cluster_id}"


def valid_name(name: str) -> bool:
    return bool(_NAME_RE.match(name))


def db_path(world: World, cluster_id: int, name: str) -> Path:
    if not valid_name(name):
        raise GaleraError(f"Incorrect database name '{name}'", 1102, "42000")
    return env_dir(world, cluster_id) / f"{name}.sqlite"


def databases(world: World, cluster_id: int) -> list[str]:
    """The env's user databases, sorted as SHOW DATABASES lists them."""
    folder = env_dir(world, cluster_id)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.sqlite"))


def exists(world: World, cluster_id: int, name: str) -> bool:
    return valid_name(name) and db_path(world, cluster_id, name).exists()


def lab_datetime(world: World, offset: float = 0.0) -> str:
    """Lab time as MySQL stores a DATETIME."""
    from fuellab.node.daemons import LAB_EPOCH

    return (LAB_EPOCH + timedelta(seconds=world.clock.now() + offset)).strftime("%Y-%m-%d %H:%M:%S")


def open_file(path: Path, world: World | None = None, autocommit: bool = False) -> sqlite3.Connection:
    """Open one database file with the SQL functions MySQL statements use."""
    conn = sqlite3.connect(path, isolation_level=None if autocommit else "DEFERRED",
                           check_same_thread=False)
    # Durability across an OS crash is not the lab's concern; speed of a restore is.
    conn.execute("PRAGMA synchronous = OFF")
    register_functions(conn, world)
    return conn


def register_functions(conn: sqlite3.Connection, world: World | None) -> None:
    import uuid

    def now() -> str:
        return lab_datetime(world) if world is not None else "2015-11-02 08:00:00"

    conn.create_function("NOW", 0, now)
    conn.create_function("UTC_TIMESTAMP", 0, now)
    conn.create_function("CURRENT_TIMESTAMP", 0, now)
    conn.create_function("lab_now", 0, now)
    conn.create_function("UUID", 0, lambda: str(uuid.uuid4()))
    conn.create_function("lab_uuid", 0, lambda: str(uuid.uuid4()))
    conn.create_function("CONCAT", -1, lambda *a: None if any(x is None for x in a)
                         else "".join(str(x) for x in a))
    conn.create_function("DATABASE", 0, lambda: None)


def connect(world: World, cluster_id: int, name: str, autocommit: bool = False) -> sqlite3.Connection:
    """The env's database `name` (raises UnknownDatabase). Close it when done."""
    path = db_path(world, cluster_id, name)
    if not path.exists():
        raise UnknownDatabase(name)
    return open_file(path, world, autocommit)


def create_database(world: World, cluster_id: int, name: str) -> None:
    path = db_path(world, cluster_id, name)
    if path.exists():
        raise GaleraError(f"Can't create database '{name}'; database exists", 1007)
    path.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(path).close()
    world.record("db_created", env=cluster_id, database=name)


def drop_database(world: World, cluster_id: int, name: str) -> None:
    path = db_path(world, cluster_id, name)
    if not path.exists():
        raise GaleraError(f"Can't drop database '{name}'; database doesn't exist", 1008)
    path.unlink()
    for extra in (path.with_name(path.name + "-journal"), path.with_name(path.name + "-wal")):
        extra.unlink(missing_ok=True)
    world.record("db_dropped", env=cluster_id, database=name)


# --------------------------------------------------------------------------- who serves


def controllers(world: World, cluster_id: int | None) -> list[Node]:
    if cluster_id is None:
        return []
    return [n for n in world.cluster_nodes(cluster_id) if "controller" in n.roles]


_primary_cache: dict[tuple[int, int, int], list[int]] = {}


def primary_component(world: World, cluster_id: int | None) -> list[Node]:
    """The env's controllers whose mysqld runs and who see a majority of the env's controllers."""
    if cluster_id is None:
        return []
    key = (id(world), world.version, cluster_id)
    cached = _primary_cache.get(key)
    if cached is None:
        cached = [n.id for n in _compute_primary(world, cluster_id)]
        if len(_primary_cache) > 256:
            _primary_cache.clear()
        _primary_cache[key] = cached
    return [world.nodes[i] for i in cached if i in world.nodes]


def _compute_primary(world: World, cluster_id: int) -> list[Node]:
    ctrls = controllers(world, cluster_id)
    running = [n for n in ctrls if services.is_running(world, n, "mysql")]
    if not running:
        return []
    uf = network.segments(world)
    mgmt = world.networks["management"].bridge
    groups: dict[Any, list[Node]] = {}
    for node in running:
        seg = uf.find((node.id, mgmt)) if mgmt in node.ovs else ("alone", node.id)
        groups.setdefault(seg, []).append(node)
    for group in groups.values():
        if len(group) * 2 > len(ctrls):
            return sorted(group, key=lambda n: n.id)
    return []


def serves(world: World, node: Node) -> bool:
    return any(n.id == node.id for n in primary_component(world, node.cluster))


def writer(world: World, cluster_id: int) -> Node | None:
    """The node writes through the VIP land on: HAProxy's active backend (first serving controller)."""
    primary = primary_component(world, cluster_id)
    return primary[0] if primary else None


# --------------------------------------------------------------------------- server state


def state(cluster: Cluster) -> dict[str, Any]:
    return cluster.galera


def read_only(world: World, node: Node) -> bool:
    """`@@global.read_only` of the node's mysqld."""
    if node.cluster is None or node.cluster not in world.clusters:
        return False
    cluster = world.clusters[node.cluster]
    entry = cluster.galera.get("read_only", {}).get(node.hostname)
    if not entry or entry.get("booted_at") != node.booted_at:
        return False  # not set, or the node rebooted since: mysqld started with its defaults
    restarted = cluster.pacemaker.get("restarts", {}).get("clone_p_mysql")
    stopped = cluster.pacemaker.get("stack_stopped", {}).get(node.hostname)
    return not any(when is not None and when >= entry.get("set_at", 0.0) for when in (restarted, stopped))


def set_read_only(world: World, node: Node, on: bool) -> None:
    cluster = world.clusters[node.cluster]  # type: ignore[index]
    flags = cluster.galera.setdefault("read_only", {})
    if on:
        flags[node.hostname] = {"booted_at": node.booted_at, "set_at": world.clock.now()}
    else:
        flags.pop(node.hostname, None)
    world.record("mysql_read_only", env=cluster.id, node=node.hostname, on=on)


def note_write(world: World, cluster_id: int, name: str, count: int = 1) -> None:
    """Count committed writes to a database (lab time of the last one)."""
    if count <= 0 or cluster_id not in world.clusters:
        return
    writes = world.clusters[cluster_id].galera.setdefault("writes", {})
    entry = writes.setdefault(name, {"count": 0, "last_at": None})
    entry["count"] += count
    entry["last_at"] = round(world.clock.now(), 3)
    world.changed()


# --------------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class Account:
    user: str
    host: str  # the client host as the server sees it
    super: bool  # SUPER privilege: root
    databases: frozenset[str] | None  # None: every database

    def can_use(self, name: str) -> bool:
        return self.databases is None or name in self.databases or name == "information_schema"


def authenticate(world: World, cluster_id: int, user: str, password: str | None,
                 client_host: str = "localhost") -> Account:
    """Check a login against the env's accounts (root and one per service)."""
    generated = world.clusters[cluster_id].generated if cluster_id in world.clusters else {}
    if user == "root":
        expected = generated.get("mysql", {}).get("root_password")
        account = Account("root", client_host, True, None)
    elif user in SERVICES:
        expected = generated.get(user, {}).get("db_password")
        account = Account(user, client_host, False, frozenset({user}))
    else:
        expected = None
        account = None
    if account is None or expected is None or password != expected:
        using = "YES" if password else "NO"
        raise AccessDenied(f"Access denied for user '{user}'@'{client_host}' (using password: {using})")
    return account


def denied_database(account: Account, name: str) -> GaleraError:
    return GaleraError(f"Access denied for user '{account.user}'@'{account.host}' to database '{name}'",
                       1044, "42000")


# --------------------------------------------------------------------------- reaching a server


@dataclass(frozen=True)
class Endpoint:
    cluster_id: int
    server: Node  # the mysqld that answers
    client_host: str  # how the server sees the client


def _socket_error() -> ConnectError:
    return ConnectError(f"Can't connect to local MySQL server through socket '{SOCKET}' (111)", 2002)


def _tcp_error(host: str, errno: int = 111) -> ConnectError:
    return ConnectError(f"Can't connect to MySQL server on '{host}' ({errno})", 2003)


def _lost() -> ConnectError:
    return ConnectError("Lost connection to MySQL server at 'reading initial communication packet', "
                        "system error: 0", 2013)


def reach(lab: Lab, node: Node, host: str | None, port: int | None = None) -> Endpoint:
    """The server a client on `node` reaches at host:port (socket when host is localhost)."""
    world = lab.world
    if host in (None, "", "localhost"):
        if node.cluster is None or not serves(world, node):
            raise _socket_error()
        return Endpoint(node.cluster, node, "localhost")
    if host in ("127.0.0.1", "::1"):
        raise _tcp_error(host)  # mysqld binds the management address only
    address = host
    if host == node.hostname:
        address = node.ips.get("management", "")
    else:
        other = world.node_by_hostname(host)
        if other is not None:
            address = other.ips.get("management", "")
        elif not re.match(r"^\d+\.\d+\.\d+\.\d+$", host):
            raise ConnectError(f"Unknown MySQL server host '{host}' (0)", 2005)
    client = node.ips.get("management", node.admin_ip)
    if address in node.ips.values():
        if (port or HAPROXY_PORT) == MYSQLD_PORT and address == node.ips.get("management") \
                and node.cluster is not None and serves(world, node):
            return Endpoint(node.cluster, node, client)
        raise _tcp_error(host)
    holder = _holder_seen_from(lab, node, address, host)
    target = world.nodes[holder.node_id]
    if holder.vip:
        if (port or HAPROXY_PORT) != HAPROXY_PORT or not services.is_running(world, target, "haproxy"):
            raise _tcp_error(host)
        active = writer(world, target.cluster) if target.cluster is not None else None
        if active is None:
            raise _lost()  # HAProxy accepts, finds no backend and closes
        return Endpoint(target.cluster, active, client)  # type: ignore[arg-type]
    if (port or HAPROXY_PORT) != MYSQLD_PORT or not serves(world, target) or holder.network != "management":
        raise _tcp_error(host)
    return Endpoint(target.cluster, target, client)  # type: ignore[arg-type]


def _holder_seen_from(lab: Lab, node: Node, address: str, shown: str) -> Any:
    world = lab.world
    net_name = next((n.name for n in world.networks.values()
                     if network._in_cidr(address, n.cidr)), None)
    net = world.networks.get(net_name) if net_name else None
    if net is None or not net.bridge or net.bridge not in node.ovs:
        raise _tcp_error(shown, 113)
    uf = network.segments(world)
    mine = uf.find((node.id, net.bridge))
    seen = []
    for holder in lab.addresses.holders().get(address, []):
        bridge = world.networks[holder.network].bridge
        if uf.find((holder.node_id, bridge)) == mine:
            seen.append(holder)
    if not seen:
        raise _tcp_error(shown, 113)
    if len({h.node_id for h in seen}) > 1:
        raise _lost()  # two holders of one address: the connection breaks mid-handshake
    return seen[0]


# --------------------------------------------------------------------------- the services' view


@contextmanager
def read(world: World, cluster_id: int, name: str) -> Iterator[sqlite3.Connection]:
    """A service reading through the VIP: needs the env's primary component."""
    if writer(world, cluster_id) is None:
        raise NotServing("Can't connect to MySQL server (no primary component)", 2003)
    conn = connect(world, cluster_id, name)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def write(world: World, cluster_id: int, name: str, count: int = 1) -> Iterator[sqlite3.Connection]:
    """A service writing through the VIP: refused on a read-only writer node; commits on exit."""
    active = writer(world, cluster_id)
    if active is None:
        raise NotServing("Can't connect to MySQL server (no primary component)", 2003)
    if read_only(world, active):
        raise ReadOnly()
    with transaction(world, cluster_id, name, count) as conn:
        yield conn


@contextmanager
def transaction(world: World, cluster_id: int, name: str, count: int = 1,
                row_factory: Any = None) -> Iterator[sqlite3.Connection]:
    """One committed transaction on an env database, counted as `count` writes once committed.

    Callers check first that the server they write through may write (read_only, primary).
    """
    conn = connect(world, cluster_id, name)
    if row_factory is not None:
        conn.row_factory = row_factory
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    note_write(world, cluster_id, name, count)


# --------------------------------------------------------------------------- deployment


def on_deploy(world: World, cluster: Cluster, node: Node) -> None:
    """What deploying `node` does to the env's databases (puppet's mysql and db sync steps).

    A controller: `/root/.my.cnf` with the env's root password; each missing
    service database is created with the schema of the env's release and the
    rows a fresh deployment leaves (seed); an existing one at an older version
    is synced, as puppet's `db sync` would; rows are never wiped. Any node:
    its own rows (nova/cinder services, compute node, neutron agents) are
    registered once the env's databases exist.
    """
    from fuellab.install import write as write_file
    from fuellab.openstack import schema, seed

    release = world.cluster_release(cluster).version
    now = lab_datetime(world)
    if "controller" in node.roles:
        root_password = cluster.generated.get("mysql", {}).get("root_password", "")
        write_file(world.rootfs(node), "/root/.my.cnf",
                   f"[client]\nuser=root\npassword={root_password}\nhost=localhost\n", 0o600)
        for svc in SERVICES:
            path = db_path(world, cluster.id, svc)
            fresh = not path.exists()
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = open_file(path, world)
            try:
                current = schema.version(conn, svc)
                if fresh or (current is None and not schema.table_names(conn)):
                    schema.create(conn, svc, release, now)
                elif current is not None:
                    # A newer schema than the code: puppet's sync fails, the data stays.
                    with contextlib.suppress(schema.SchemaError):
                        schema.upgrade(conn, svc, release, now=now)
                seed.ensure(world, cluster, svc, conn)
                conn.commit()
            finally:
                conn.close()
    if not all(exists(world, cluster.id, svc) for svc in SERVICES):
        return
    targets = [node] if "controller" not in node.roles else [
        n for n in world.cluster_nodes(cluster.id) if n.roles]
    for svc in SERVICES:
        conn = connect(world, cluster.id, svc)
        try:
            for member in targets:
                seed.register(world, cluster, member, svc, conn)
            conn.commit()
        finally:
            conn.close()
