"""The services' database tools: keystone-manage, nova-manage, cinder-manage, glance-manage,
heat-manage and neutron-db-manage.

What they run is the code of the node: the release of the installed package
(its dpkg version, else the release the node was provisioned with) decides
which schema versions the tool knows (fuellab.openstack.schema). Where they
connect is what their configuration says, read as oslo.config reads it:
`--config-file` options, else the project's default files
(/etc/<project>/<project>.conf and /etc/<project>/<prog>.conf); the
connection is `[database] connection` (or its deprecated spellings). A
missing connection falls back to upstream's default, a SQLite file on the
node, so a sync "succeeds" without touching the cloud's database, as it does
upstream. A `mysql://` URL goes through fuellab.galera: the host (the
management VIP) must be reachable and served, the account valid, the
database present; writes are refused by a read-only server.

Failures are worded as upstream's: `nova-manage db sync` on a database newer
than its code ends with "KeyError: <VerNum(280)>", a missing database with
`(OperationalError) (1049, "Unknown database 'nova'") None None`, exit 1;
neutron-db-manage prints alembic's "FAILED: Can't locate revision ..." and
exits 255.
"""

from __future__ import annotations

import configparser
import posixpath
import sqlite3
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from fuellab import galera, install, releases
from fuellab.node.commands import command, fsutil
from fuellab.node.context import Context
from fuellab.openstack import schema


@dataclass(frozen=True)
class Tool:
    prog: str
    service: str
    package: str  # the package whose installed version says which release's code runs
    config_progs: tuple[str, ...] = ()  # extra config file names searched besides <project>.conf

    @property
    def project(self) -> str:
        return self.service


TOOLS = {
    "nova-manage": Tool("nova-manage", "nova", "nova-api", ("nova-manage",)),
    "keystone-manage": Tool("keystone-manage", "keystone", "keystone", ("keystone-manage",)),
    "cinder-manage": Tool("cinder-manage", "cinder", "cinder-api", ("cinder-manage",)),
    "glance-manage": Tool("glance-manage", "glance", "glance-api",
                          ("glance-registry", "glance-api", "glance-manage")),
    "heat-manage": Tool("heat-manage", "heat", "heat-api", ("heat-manage",)),
    "neutron-db-manage": Tool("neutron-db-manage", "neutron", "neutron-server", ()),
}


class ManageError(Exception):
    """An exception as the tool's traceback names it: `kind: text`."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(f"{kind}: {text}")
        self.kind = kind
        self.text = text


def _operational(code: int, message: str) -> ManageError:
    return ManageError("OperationalError", f"(OperationalError) {(code, message)!r} None None")


# --------------------------------------------------------------------------- code and configuration


def code_release(ctx: Context, tool: Tool) -> str:
    """The release whose code the node runs for this tool."""
    version = install.installed_packages(ctx.world.rootfs(ctx.node)).get(tool.package)
    for spec in releases.RELEASES.values():
        for pkgs in spec.roles.values():
            if any(p.name == tool.package and p.version == version for p in pkgs):
                return spec.version
    return ctx.node.release or releases.JUNO


@dataclass
class Invocation:
    config_files: list[str] = field(default_factory=list)
    config_dir: str | None = None
    args: list[str] = field(default_factory=list)


def parse_invocation(argv: list[str]) -> Invocation:
    """oslo.config's common options, wherever they appear; the rest in order."""
    inv = Invocation()
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        name, eq, value = arg.partition("=")
        if name in ("--config-file", "--config-dir"):
            if not eq:
                value = args[i] if i < len(args) else ""
                i += 1
            if name == "--config-file":
                inv.config_files.append(value)
            else:
                inv.config_dir = value
        elif arg in ("--debug", "-d", "--verbose", "-v", "--nodebug", "--noverbose", "--use-syslog",
                     "--nouse-syslog"):
            continue
        elif name in ("--log-file", "--log-dir", "--log-config-append", "--log-config"):
            if not eq:
                i += 1
        else:
            inv.args.append(arg)
    return inv


def default_config_files(ctx: Context, tool: Tool) -> list[str]:
    """oslo.config's find_config_files: for each name, the first of ~/.<project>, ~, /etc/<project>, /etc."""
    found = []
    for name in (tool.project, *tool.config_progs):
        for folder in (f"~/.{tool.project}", "~", f"/etc/{tool.project}", "/etc"):
            path = ctx.abspath(f"{folder}/{name}.conf")
            if ctx.path(path).is_file():
                found.append(path)
                break
    return found


def load_config(ctx: Context, tool: Tool, inv: Invocation, release: str) -> configparser.ConfigParser:
    files = list(inv.config_files) if inv.config_files else default_config_files(ctx, tool)
    missing = [f for f in inv.config_files if not ctx.path(f).is_file()]
    if missing:
        verb = "find" if release == releases.KILO else "read"
        raise ManageError("ConfigFilesNotFoundError", f"Failed to {verb} some config files: {','.join(missing)}")
    if inv.config_dir:
        folder = ctx.abspath(inv.config_dir)
        if fsutil.is_dir(ctx, folder):
            files += sorted(posixpath.join(folder, n) for n in fsutil.listdir(ctx, folder) if n.endswith(".conf"))
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    for path in files:
        text = fsutil.read_bytes(ctx, path, tool.prog).decode(errors="replace")
        try:
            parser.read_string(text, source=path)
        except configparser.Error as exc:
            raise ManageError("ConfigFileParseError", f"Failed to parse {path}: {exc}") from None
    return parser


def connection_url(ctx: Context, tool: Tool, cfg: configparser.ConfigParser) -> str:
    for section, key in (("database", "connection"), ("DATABASE", "sql_connection"),
                         ("sql", "connection"), ("DEFAULT", "sql_connection")):
        if cfg.has_option(section, key):
            value = cfg.get(section, key).strip()
            if value:
                return value
    # Upstream defaults: a SQLite file under the service's state path, or in the current folder.
    state = cfg.get("DEFAULT", "state_path", fallback=f"/usr/lib/python2.7/dist-packages/{tool.service}")
    defaults = {"nova": f"sqlite:///{state}/nova.sqlite", "cinder": f"sqlite:///{state}/cinder.sqlite",
                "heat": f"sqlite:///{state}/heat.sqlite", "keystone": "sqlite:///keystone.db",
                "glance": "sqlite:///glance.sqlite", "neutron": ""}
    return defaults[tool.service]


# --------------------------------------------------------------------------- the database


@dataclass
class Db:
    conn: sqlite3.Connection
    dialect: str  # MySQLImpl | SQLiteImpl
    check_write: Callable[[], None]
    note_write: Callable[[int], None]
    env: int | None = None  # the env whose Galera holds it (None: a local SQLite file)
    name: str = ""

    def close(self) -> None:
        self.conn.close()


def open_db(ctx: Context, tool: Tool, url: str) -> Db:
    if not url:
        raise ManageError("ArgumentError", "Could not parse rfc1738 URL from string ''")
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme == "sqlite":
        rel = url.split("://", 1)[1]
        path = rel[1:] if rel.startswith("/") else rel
        node_path = path if path.startswith("/") else posixpath.join(ctx.cwd, path)
        target = ctx.path(node_path)
        if not target.parent.is_dir():
            raise ManageError("OperationalError", "(OperationalError) unable to open database file None None")
        conn = galera.open_file(target, ctx.world)
        return Db(conn, "SQLiteImpl", lambda: None, lambda n: None)
    if scheme != "mysql":
        raise ManageError("NoSuchModuleError", f"Can't load plugin: sqlalchemy.dialects:{scheme}")
    name = parts.path.lstrip("/")
    world = ctx.world
    try:
        endpoint = galera.reach(ctx.lab, ctx.node, parts.hostname or "localhost", parts.port)
        account = galera.authenticate(world, endpoint.cluster_id, unquote(parts.username or ""),
                                      unquote(parts.password) if parts.password else None, endpoint.client_host)
        if not account.can_use(name):
            raise galera.denied_database(account, name)
        conn = galera.connect(world, endpoint.cluster_id, name)
    except galera.GaleraError as exc:
        raise _operational(exc.code, exc.message) from None

    def check_write() -> None:
        if not account.super and galera.read_only(world, endpoint.server):
            raise _operational(1290, galera.ReadOnly().message)

    def note(count: int) -> None:
        galera.note_write(world, endpoint.cluster_id, name, count)

    return Db(conn, "MySQLImpl", check_write, note, endpoint.cluster_id, name)


def _open(ctx: Context, tool: Tool, inv: Invocation, release: str) -> Db:
    cfg = load_config(ctx, tool, inv, release)
    return open_db(ctx, tool, connection_url(ctx, tool, cfg))


# --------------------------------------------------------------------------- sync and version


def sync(ctx: Context, tool: Tool, db: Db, release: str, target: int | str | None = None) -> list[schema.Step]:
    """Migrate the database to the code's head (or `target`)."""
    conn, svc = db.conn, tool.service
    try:
        current = schema.version(conn, svc)
        if current is not None:
            steps = schema.plan(svc, current, release, target)
            if not steps:
                return []
        elif schema.table_names(conn):
            raise schema.NotVersioned("The database is not under version control, but has tables. "
                                      "Please stamp the current version of the schema manually.")
        db.check_write()
        conn.execute("BEGIN")
        applied = schema.upgrade(conn, svc, release, target, now=galera.lab_datetime(ctx.world))
        conn.commit()
    except schema.VersionUnknown as exc:
        raise ManageError("KeyError" if schema.KIND[svc] == "migrate" else "CommandError", str(exc)) from None
    except schema.NotVersioned as exc:
        kind = "NovaException" if svc == "nova" else "DbMigrationError"
        text = "Upgrade DB using Essex release first." if svc == "nova" else str(exc)
        raise ManageError(kind, text) from None
    except schema.SchemaError as exc:
        raise ManageError("KnownError", str(exc)) from None
    db.note_write(max(1, len(applied)))
    if db.env is not None and applied:
        ctx.world.record("db_sync", env=db.env, database=db.name, service=svc, node=ctx.node.hostname,
                         release=release, before=current, after=schema.version(conn, svc))
    return applied


def db_version(tool: Tool, db: Db) -> int | str:
    conn, svc = db.conn, tool.service
    current = schema.version(conn, svc)
    if current is not None:
        return current
    if schema.table_names(conn):
        if svc == "nova":
            raise ManageError("NovaException", "Upgrade DB using Essex release first.")
        raise ManageError("DbMigrationError", "The database is not under version control, but has tables. "
                                              "Please stamp the current version of the schema manually.")
    db.check_write()
    value = schema.version_control(conn, svc)
    conn.commit()
    db.note_write(1)
    return value


def _log_steps(ctx: Context, tool: Tool, steps: list[schema.Step]) -> None:
    """What sqlalchemy-migrate logs into the tool's log file."""
    if not steps:
        return
    stamp = galera.lab_datetime(ctx.world)
    pid = _pid(ctx, tool)
    lines = []
    for step in steps:
        lines.append(f"{stamp}.000 {pid} INFO migrate.versioning.api [-] {step.before} -> {step.after}... \n")
        lines.append(f"{stamp}.000 {pid} INFO migrate.versioning.api [-] done\n")
    path = f"/var/log/{tool.service}/{tool.service}-manage.log"
    target = ctx.path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a") as handle:
            handle.write("".join(lines))
    except OSError:
        pass


def _pid(ctx: Context, tool: Tool) -> int:
    return 2000 + zlib.crc32(f"{ctx.node.hostname}{tool.prog}{ctx.world.clock.now():.0f}".encode()) % 28000


def _fail(ctx: Context, tool: Tool, exc: ManageError) -> int:
    if tool.service == "nova":
        ctx.out("Command failed, please check log for more info\n")
    stamp = galera.lab_datetime(ctx.world)
    ctx.err(f"{stamp}.000 {_pid(ctx, tool)} CRITICAL {tool.service} [-] {exc.kind}: {exc.text}\n")
    return 1


def _usage(ctx: Context, tool: Tool, message: str) -> int:
    ctx.err(f"usage: {tool.prog} [-h] [--config-file PATH] ... \n{tool.prog}: error: {message}\n")
    return 2


def _int_version(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise ManageError("NovaException" if value else "ValueError", "version should be an integer")
    return int(value)


async def _migrate_tool(ctx: Context, argv: list[str], tool: Tool, action_words: dict[tuple[str, ...], str]) -> int:
    inv = parse_invocation(argv)
    args = inv.args
    action = None
    rest: list[str] = []
    for words, name in action_words.items():
        if tuple(args[:len(words)]) == words:
            action, rest = name, args[len(words):]
            break
    if action is None:
        if tool.service == "cinder" and args[:2] == ["volume", "update_host"]:
            return await _update_host(ctx, tool, inv, args[2:])
        return _usage(ctx, tool, f"argument category: invalid choice: {' '.join(args[:2]) or 'none'!r}")
    release = code_release(ctx, tool)
    try:
        target = None
        if action == "sync":
            version_arg = None
            k = 0
            while k < len(rest):
                if rest[k] == "--version" and k + 1 < len(rest):
                    version_arg = rest[k + 1]
                    k += 2
                    continue
                if rest[k].startswith("--version="):
                    version_arg = rest[k].split("=", 1)[1]
                elif not rest[k].startswith("-"):
                    version_arg = rest[k]
                k += 1
            target = _int_version(version_arg)
        db = _open(ctx, tool, inv, release)
        try:
            if action == "sync":
                _log_steps(ctx, tool, sync(ctx, tool, db, release, target))
            else:
                ctx.out(f"{db_version(tool, db)}\n")
        finally:
            db.close()
    except ManageError as exc:
        return _fail(ctx, tool, exc)
    return 0


@command("nova-manage")
async def nova_manage(ctx: Context, argv: list[str]) -> int:
    return await _migrate_tool(ctx, argv, TOOLS["nova-manage"], {("db", "sync"): "sync", ("db", "version"): "version"})


@command("cinder-manage")
async def cinder_manage(ctx: Context, argv: list[str]) -> int:
    return await _migrate_tool(ctx, argv, TOOLS["cinder-manage"], {("db", "sync"): "sync", ("db", "version"): "version"})


@command("keystone-manage")
async def keystone_manage(ctx: Context, argv: list[str]) -> int:
    return await _migrate_tool(ctx, argv, TOOLS["keystone-manage"], {("db_sync",): "sync", ("db_version",): "version"})


@command("glance-manage")
async def glance_manage(ctx: Context, argv: list[str]) -> int:
    return await _migrate_tool(ctx, argv, TOOLS["glance-manage"], {
        ("db_sync",): "sync", ("db_version",): "version", ("db", "sync"): "sync", ("db", "version"): "version"})


@command("heat-manage")
async def heat_manage(ctx: Context, argv: list[str]) -> int:
    return await _migrate_tool(ctx, argv, TOOLS["heat-manage"], {("db_sync",): "sync", ("db_version",): "version"})


# --------------------------------------------------------------------------- cinder-manage volume update_host


async def _update_host(ctx: Context, tool: Tool, inv: Invocation, args: list[str]) -> int:
    values: dict[str, str] = {}
    k = 0
    while k < len(args):
        name, eq, value = args[k].partition("=")
        if name in ("--currenthost", "--newhost"):
            if not eq:
                value = args[k + 1] if k + 1 < len(args) else ""
                k += 1
            values[name[2:]] = value
        k += 1
    for name in ("currenthost", "newhost"):
        if not values.get(name):
            return _usage(ctx, tool, f"argument --{name} is required")
    release = code_release(ctx, tool)
    try:
        db = _open(ctx, tool, inv, release)
        try:
            current = values["currenthost"]
            # Kilo's volume_get_all_by_host: the host itself or any of its pools (host#pool).
            rows = db.conn.execute(
                "SELECT id FROM volumes WHERE (host = ? OR host LIKE ? ESCAPE '\\') AND "
                "(deleted = 0 OR deleted IS NULL)",
                (current, current.replace("%", "\\%").replace("_", "\\_") + "#%")).fetchall()
            if rows:
                db.check_write()
                db.conn.executemany("UPDATE volumes SET host = ?, updated_at = ? WHERE id = ?",
                                    [(values["newhost"], galera.lab_datetime(ctx.world), r[0]) for r in rows])
                db.conn.commit()
                db.note_write(len(rows))
        except sqlite3.Error as exc:
            raise ManageError("OperationalError", f"(OperationalError) {exc} None None") from None
        finally:
            db.close()
    except ManageError as exc:
        return _fail(ctx, tool, exc)
    return 0


# --------------------------------------------------------------------------- neutron-db-manage (alembic)


def _alembic_info(ctx: Context, db: Db) -> None:
    ctx.err(f"INFO  [alembic.migration] Context impl {db.dialect}.\n"
            "INFO  [alembic.migration] Will assume non-transactional DDL.\n")


@command("neutron-db-manage")
async def neutron_db_manage(ctx: Context, argv: list[str]) -> int:
    tool = TOOLS["neutron-db-manage"]
    inv = parse_invocation(argv)
    args = [a for a in inv.args if not a.startswith("--service")]
    if not args or args[0] not in ("upgrade", "current", "heads", "history", "stamp"):
        return _usage(ctx, tool, "argument command: invalid choice: "
                                 f"{(args or [''])[0]!r} (choose from 'current', 'history', 'branches', "
                                 "'check_migration', 'upgrade', 'downgrade', 'stamp', 'revision')")
    verb = args[0]
    release = code_release(ctx, tool)
    known = schema.known_versions("neutron", release)
    head = schema.head("neutron", release)
    if verb == "heads":
        ctx.out(f"{head} (head)\n")
        return 0
    if verb == "history":
        chain = ["<base>", *known]
        lines = [f"{a} -> {b}{' (head)' if b == head else ''}\n" for a, b in zip(chain, chain[1:], strict=False)]
        ctx.out("".join(reversed(lines)))  # newest first, as alembic prints it
        return 0
    try:
        db = _open(ctx, tool, inv, release)
    except ManageError as exc:
        ctx.err(f"sqlalchemy.exc.{exc.kind}: {exc.text}\n")
        return 1
    try:
        _alembic_info(ctx, db)
        current = schema.version(db.conn, "neutron")
        if verb == "current":
            if current is not None:
                if current not in known:
                    ctx.out(f"FAILED: Can't locate revision identified by '{current}'\n")
                    return 255
                ctx.out(f"{current}{' (head)' if current == head else ''}\n")
            return 0
        target_arg = args[1] if len(args) > 1 else None
        if target_arg is None:
            return _usage(ctx, tool, "too few arguments")
        if verb == "stamp":
            if target_arg != "head" and target_arg not in known:
                ctx.out(f"FAILED: Can't locate revision identified by '{target_arg}'\n")
                return 255
            db.check_write()
            value = head if target_arg == "head" else target_arg
            if current is None:
                db.conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
                db.conn.execute("INSERT INTO alembic_version VALUES (?)", (value,))
            else:
                db.conn.execute("UPDATE alembic_version SET version_num = ?", (value,))
            db.conn.commit()
            db.note_write(1)
            return 0
        target = None if target_arg == "head" else target_arg
        if target is not None and target not in known:
            ctx.out(f"FAILED: Can't locate revision identified by '{target}'\n")
            return 255
        try:
            steps = sync(ctx, tool, db, release, target)
        except ManageError as exc:
            if exc.kind == "CommandError":
                ctx.out(f"FAILED: {exc.text}\n")
                return 255
            ctx.err(f"sqlalchemy.exc.{exc.kind}: {exc.text}\n" if exc.kind == "OperationalError"
                    else f"{exc.kind}: {exc.text}\n")
            return 1
        for step in steps:
            desc = step.migration.name if step.migration else "initial"
            before = "" if step.before == 0 else step.before
            ctx.err(f"INFO  [alembic.migration] Running upgrade {before} -> {step.after}, {desc}\n")
        return 0
    finally:
        db.close()

