"""An API service on a node: whether it runs, and which database it reaches.

A service of an env runs on a controller as an upstart job (nova-api,
keystone or apache2 for Kilo's keystone, glance-api, cinder-api,
neutron-server, heat-api). It finds its database through the
`[database] connection` URL of its own configuration file on that node
(`mysql://nova:PASSWORD@MGMT_VIP/nova`), exactly as deployment wrote it: the
address is reached from the node (fuellab.galera.reach: the management VIP
held on the node's own segment, HAProxy's mysqld frontend, the env's primary
component), the credentials are checked, and the database's schema must be the
one the node's release expects. Whatever fails there, the service answers 500:
that is "fails to start" seen from a client (`ServiceDown`).

So an isolated seed controller reads its own env's databases, a restored and
synced dump is what the seed's APIs show, and a Juno database under a 7.0 node
answers 500 until `db sync` ran.
"""

from __future__ import annotations

import configparser
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from fuellab import galera, services
from fuellab.node.context import node_path
from fuellab.openstack import schema

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Node

CONFIG_FILES: dict[str, str] = {
    "nova": "/etc/nova/nova.conf",
    "keystone": "/etc/keystone/keystone.conf",
    "glance": "/etc/glance/glance-api.conf",
    "cinder": "/etc/cinder/cinder.conf",
    "neutron": "/etc/neutron/neutron.conf",
    "heat": "/etc/heat/heat.conf",
}

API_JOBS: dict[str, str] = {
    "nova": "nova-api",
    "glance": "glance-api",
    "cinder": "cinder-api",
    "neutron": "neutron-server",
    "heat": "heat-api",
}


class ServiceDown(Exception):
    """The service cannot serve: the message is what its log would say."""


def api_running(lab: Lab, node: Node, service: str) -> bool:
    """The process serving `service`'s API runs on the node."""
    jobs = services.running_jobs(lab.world, node)
    if service != "keystone":
        return API_JOBS[service] in jobs
    if "keystone" in jobs:
        return True
    # Kilo's keystone has no job of its own: it runs inside apache2 (as fuellab.node.daemons says).
    return ("apache2" in jobs and not node_path(lab, node, "/etc/init/keystone.conf").exists()
            and node_path(lab, node, "/usr/bin/keystone-manage").exists())


@dataclass(frozen=True)
class Binding:
    """Where a service on a node keeps its data."""

    service: str
    node_id: int
    cluster_id: int  # the env whose Galera answers
    server_id: int  # the mysqld that answers
    database: str
    super: bool  # connected as root (read_only does not bind it)


def _connection_url(lab: Lab, node: Node, service: str) -> str:
    path = node_path(lab, node, CONFIG_FILES[service])
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(path.read_text())
    except (OSError, configparser.Error) as exc:
        raise ServiceDown(f"cannot read {CONFIG_FILES[service]}: {exc}") from None
    url = parser.get("database", "connection", fallback="").strip()
    if not url:
        raise ServiceDown(f"no [database] connection in {CONFIG_FILES[service]}")
    return url


_bindings: dict[tuple[int, str], tuple[tuple[int, int, int], Binding | ServiceDown]] = {}


def bind(lab: Lab, node: Node, service: str) -> Binding:
    """The database the service on `node` reaches, checked as the service does at start."""
    world = lab.world
    conf = node_path(lab, node, CONFIG_FILES[service])
    try:
        st = conf.stat()
        stamp = (world.version, st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (world.version, -1, -1)
    cached = _bindings.get((node.id, service))
    if cached is not None and cached[0] == stamp:
        found = cached[1]
    else:
        try:
            found = _bind(lab, node, service)
        except ServiceDown as exc:
            found = exc
        if len(_bindings) > 4096:
            _bindings.clear()
        _bindings[(node.id, service)] = (stamp, found)
    if isinstance(found, ServiceDown):
        raise found
    _check_schema(lab, node, found)
    return found


def _bind(lab: Lab, node: Node, service: str) -> Binding:
    url = urlsplit(_connection_url(lab, node, service))
    if not url.scheme.startswith("mysql"):
        raise ServiceDown(f"unsupported database URL scheme {url.scheme!r}")
    user = unquote(url.username or "")
    password = unquote(url.password) if url.password is not None else None
    database = url.path.lstrip("/") or service
    try:
        endpoint = galera.reach(lab, node, url.hostname, url.port)
        account = galera.authenticate(lab.world, endpoint.cluster_id, user, password, endpoint.client_host)
        if not account.can_use(database):
            raise galera.denied_database(account, database)
        if not galera.exists(lab.world, endpoint.cluster_id, database):
            raise galera.UnknownDatabase(database)
    except galera.GaleraError as exc:
        raise ServiceDown(f"(OperationalError) ({exc.code}, \"{exc}\")") from None
    return Binding(service, node.id, endpoint.cluster_id, endpoint.server.id, database, account.super)


_schema_checks: dict[tuple[int, str, str, int, int, int | str | None], str | None] = {}


def _check_schema(lab: Lab, node: Node, binding: Binding) -> None:
    """The code of the node's release refuses a database of another schema."""
    release = node.release or ""
    conn = galera.connect(lab.world, binding.cluster_id, binding.database)
    try:
        cookie = int(conn.execute("PRAGMA schema_version").fetchone()[0])
        version = schema.version(conn, binding.service)
        key = (binding.cluster_id, binding.database, release, cookie,
               galera.db_path(lab.world, binding.cluster_id, binding.database).stat().st_ino, version)
        if key not in _schema_checks:
            try:
                _schema_checks[key] = schema.mismatch(conn, binding.service, release)
            except KeyError:
                _schema_checks[key] = f"no {binding.service} code for release {release!r}"
    finally:
        conn.close()
    problem = _schema_checks[key]
    if problem is not None:
        raise ServiceDown(problem)


@contextmanager
def read(lab: Lab, binding: Binding, database: str | None = None) -> Iterator[sqlite3.Connection]:
    """Read the bound database (or another one of the same env, as a cross-service lookup)."""
    conn = galera.connect(lab.world, binding.cluster_id, database or binding.database)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def write(lab: Lab, binding: Binding, count: int = 1,
          database: str | None = None) -> Iterator[sqlite3.Connection]:
    """Write through the bound server: refused while it is read-only; counted when committed."""
    world = lab.world
    server = world.nodes.get(binding.server_id)
    if not binding.super and server is not None and galera.read_only(world, server):
        raise ServiceDown(f"(OperationalError) ({galera.ReadOnly.code}, \"{galera.ReadOnly()}\")")
    with galera.transaction(world, binding.cluster_id, database or binding.database, count,
                            row_factory=sqlite3.Row) as conn:
        yield conn
