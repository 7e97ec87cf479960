"""mysql and mysqldump (MySQL 5.6 clients) against the env's Galera (fuellab.galera).

Both read their options from the command line and from option files as the
real clients do: `--defaults-file=F` alone, else /etc/mysql/my.cnf, /etc/my.cnf
and ~/.my.cnf (deployment writes root's there), groups [client] plus [mysql]
or [mysqldump]. They connect through the local socket unless `-h` names an
address (the node's own management address on 3307, the management VIP on
3306 through HAProxy); a node whose mysqld is not in the primary component
refuses, as a stopped mysqld does. Accounts are root (SUPER) and one per
service, with the env's passwords.

mysql runs `-e` text or its standard input statement by statement (see
fuellab.galera_sql), prints result sets as the batch-mode client does (tab
separated, header unless -N, `-t` table, `-E` vertical) and stops at the first
error ("ERROR 1146 (42S02) at line 3: ..."), unless --force.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from typing import Any

from fuellab import galera
from fuellab.galera_sql import DumpOptions, Result, Session, dump, split
from fuellab.node.commands import command, fsutil
from fuellab.node.context import CommandError, Context

CLIENT_VERSION = "mysql  Ver 14.14 Distrib 5.6.23, for debian-linux-gnu (x86_64) using  EditLine wrapper"
DUMP_CLIENT_VERSION = "mysqldump  Ver 10.13 Distrib 5.6.23, for debian-linux-gnu (x86_64)"
PASSWORD_WARNING = "Warning: Using a password on the command line interface can be insecure.\n"
DEFAULT_FILES = ("/etc/mysql/my.cnf", "/etc/my.cnf", "~/.my.cnf")


# --------------------------------------------------------------------------- options


@dataclass
class Options:
    prog: str
    values: dict[str, str | None] = field(default_factory=dict)  # long name -> value (None: flag)
    args: list[str] = field(default_factory=list)
    password_prompt: bool = False
    password_on_cli: bool = False
    silent: int = 0

    def has(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name, default) if self.values.get(name) is not None else default


# Long options taking a value; the rest are flags. Short options map to long names.
_VALUED = {"execute", "user", "host", "port", "socket", "database", "defaults-file",
           "defaults-extra-file", "protocol", "connect-timeout", "default-character-set",
           "init-command", "result-file", "where", "set-gtid-purged", "master-data",
           "max-allowed-packet", "net-buffer-length", "tables", "ignore-table", "fields-terminated-by",
           "tab", "compatible", "delimiter", "pager", "prompt", "bind-address", "plugin-dir",
           "default-auth", "ssl-ca", "ssl-cert", "ssl-key", "log-error"}
_FLAGS = {"skip-column-names", "column-names", "batch", "silent", "raw", "table", "vertical", "force",
          "no-defaults", "no-auto-rehash", "auto-rehash", "verbose", "version", "help", "show-warnings",
          "compress", "skip-ssl", "ssl", "unbuffered", "quick", "wait", "no-beep", "one-database",
          "skip-pager", "safe-updates", "i-am-a-dummy", "sigint-ignore", "line-numbers",
          "skip-line-numbers", "reconnect", "skip-reconnect", "html", "xml",
          # mysqldump
          "databases", "all-databases", "add-drop-database", "add-drop-table", "skip-add-drop-table",
          "lock-all-tables", "lock-tables", "skip-lock-tables", "single-transaction", "no-data",
          "no-create-info", "extended-insert", "skip-extended-insert", "compact", "comments",
          "skip-comments", "add-locks", "skip-add-locks", "routines", "triggers", "skip-triggers",
          "events", "opt", "skip-opt", "hex-blob", "flush-logs", "flush-privileges", "complete-insert",
          "create-options", "disable-keys", "dump-date", "skip-dump-date", "allow-keywords", "tz-utc",
          "skip-tz-utc", "set-charset", "skip-set-charset", "no-create-db", "order-by-primary",
          "insert-ignore", "replace", "quote-names", "skip-quote-names", "no-autocommit"}
_SHORT = {"e": "execute", "u": "user", "h": "host", "P": "port", "S": "socket", "D": "database",
          "N": "skip-column-names", "B": "batch", "s": "silent", "r": "raw", "t": "table",
          "E": "vertical", "f": "force", "A": "no-auto-rehash", "v": "verbose", "V": "version",
          "n": "unbuffered", "q": "quick", "b": "no-beep", "c": "comments", "?": "help", "I": "help",
          "o": "one-database", "C": "compress", "X": "xml", "H": "html", "w": "wait"}
_DUMP_SHORT = {"u": "user", "h": "host", "P": "port", "S": "socket", "B": "databases",
               "A": "all-databases", "x": "lock-all-tables", "l": "lock-tables", "d": "no-data",
               "t": "no-create-info", "e": "extended-insert", "R": "routines", "q": "quick",
               "F": "flush-logs", "r": "result-file", "V": "version", "?": "help", "v": "verbose",
               "c": "complete-insert", "K": "disable-keys", "w": "where", "Y": "all-tablespaces",
               "n": "no-create-db", "C": "compress", "X": "xml"}


def _normalise(name: str) -> str:
    return name.replace("_", "-")


def parse_options(prog: str, argv: list[str], short: dict[str, str]) -> Options:
    """The client's command-line options (MySQL's handle_options rules)."""
    out = Options(prog)
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            out.args += args[i:]
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            name = _normalise(name)
            loose = name.startswith("loose-")
            if loose:
                name = name[6:]
            if name == "password":
                if eq:
                    out.values["password"] = value
                    out.password_on_cli = bool(value)
                else:
                    out.password_prompt = True
                continue
            if name.startswith("skip-") and name[5:] in _FLAGS and name not in _FLAGS:
                out.values.pop(name[5:], None)
                out.values[name] = None
                continue
            known = _VALUED | _FLAGS
            if name not in known:
                matches = [k for k in known if k.startswith(name)]
                if len(matches) == 1:
                    name = matches[0]
                elif loose:
                    continue
                else:
                    raise CommandError(f"{prog}: unknown option '--{arg[2:].split('=')[0]}'", 1 if prog == "mysql" else 2)
            if name in _VALUED:
                if not eq:
                    if i >= len(args):
                        raise CommandError(f"{prog}: option '--{name}' requires an argument", 1)
                    value = args[i]
                    i += 1
                out.values[name] = value
            else:
                if name == "silent":
                    out.silent += 1
                out.values[name] = None
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                c = arg[j]
                if c == "p":
                    rest = arg[j + 1:]
                    if rest:
                        out.values["password"] = rest
                        out.password_on_cli = True
                    else:
                        out.password_prompt = True
                    break
                if c not in short:
                    raise CommandError(f"{prog}: unknown option '-{c}'", 1 if prog == "mysql" else 2)
                name = short[c]
                if name in _VALUED:
                    value = arg[j + 1:]
                    if not value:
                        if i >= len(args):
                            raise CommandError(f"{prog}: option '-{c}' requires an argument", 1)
                        value = args[i]
                        i += 1
                    out.values[name] = value
                    break
                if name == "silent":
                    out.silent += 1
                out.values[name] = None
                j += 1
            continue
        out.args.append(arg)
    return out


def read_option_files(ctx: Context, opts: Options, groups: tuple[str, ...]) -> dict[str, str]:
    """Settings from the option files, in the order the client reads them."""
    if opts.has("no-defaults"):
        return {}
    explicit = opts.get("defaults-file")
    files = [explicit] if explicit else list(DEFAULT_FILES)
    if opts.get("defaults-extra-file"):
        files.append(opts.get("defaults-extra-file"))  # type: ignore[arg-type]
    found: dict[str, str] = {}
    for path in files:
        assert path is not None
        target = ctx.path(path)
        if not target.is_file():
            if path in (explicit, opts.get("defaults-extra-file")):
                raise CommandError(f"Could not open required defaults file: {ctx.abspath(path)}\n"
                                   "Fatal error in defaults handling. Program aborted", 1)
            continue
        parser = configparser.ConfigParser(allow_no_value=True, strict=False, interpolation=None,
                                           comment_prefixes=("#", ";"), inline_comment_prefixes=None)
        lines = [ln for ln in fsutil.read_bytes(ctx, path, opts.prog).decode(errors="replace").splitlines()
                 if not ln.lstrip().startswith("!")]
        try:
            parser.read_string("\n".join(lines))
        except configparser.Error as exc:
            raise CommandError(f"error: Found option without preceding group in config file: "
                               f"{ctx.abspath(path)} ({exc.__class__.__name__})", 1) from None
        for group in groups:
            if parser.has_section(group):
                for key, value in parser.items(group):
                    value = (value or "").strip()
                    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                        value = value[1:-1]
                    found[_normalise(key)] = value
    return found


@dataclass
class Login:
    user: str
    password: str | None
    host: str | None
    port: int | None
    database: str | None


def login(ctx: Context, opts: Options, groups: tuple[str, ...]) -> Login:
    files = read_option_files(ctx, opts, groups)
    password = opts.values.get("password", files.get("password"))
    if opts.password_prompt:
        ctx.err("Enter password: \n")  # no terminal to read it from: an empty answer
        password = ""
    port = opts.get("port") or files.get("port")
    return Login(
        user=opts.get("user") or files.get("user") or "root",
        password=password,
        host=opts.get("host") or files.get("host"),
        port=int(port) if port and port.isdigit() else None,
        database=opts.get("database") or files.get("database"),
    )


def connect(ctx: Context, who: Login) -> Session:
    """Reach the server and log in: a session, or a GaleraError."""
    endpoint = galera.reach(ctx.lab, ctx.node, who.host, who.port)
    account = galera.authenticate(ctx.world, endpoint.cluster_id, who.user, who.password,
                                  endpoint.client_host)
    return Session(ctx.world, endpoint, account)


# --------------------------------------------------------------------------- output


def format_value(value: Any, raw: bool = False) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    elif isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace")
    else:
        text = str(value)
    if raw:
        return text
    return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
            .replace("\x00", "\\0"))


def render_result(result: Result, opts: Options) -> str:
    raw = opts.has("raw")
    header = not (opts.has("skip-column-names") or opts.silent >= 2)
    if opts.has("vertical"):
        width = max((len(c) for c in result.columns), default=0)
        out = []
        for i, row in enumerate(result.rows, start=1):
            out.append(f"{'*' * 27} {i}. row {'*' * 27}\n")
            out += [f"{name:>{width}}: {format_value(v, True)}\n" for name, v in zip(result.columns, row, strict=False)]
        return "".join(out)
    if opts.has("table"):
        cells = [[format_value(v, True) for v in row] for row in result.rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(result.columns)]
        line = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"
        out = [line]
        if header:
            out.append("| " + " | ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=False)) + " |\n")
            out.append(line)
        for row in cells:
            out.append("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)) + " |\n")
        out.append(line)
        return "".join(out) if result.rows or header else ""
    if not result.rows:
        return ""  # the batch client prints nothing for an empty result
    lines = ["\t".join(result.columns)] if header else []
    lines += ["\t".join(format_value(v, raw) for v in row) for row in result.rows]
    return "\n".join(lines) + "\n"


def _error(code: int, state: str, message: str, line: int | None = None) -> str:
    where = f" at line {line}" if line is not None else ""
    return f"ERROR {code} ({state}){where}: {message}\n"


# --------------------------------------------------------------------------- mysql


@command("mysql")
async def mysql(ctx: Context, argv: list[str]) -> int:
    opts = parse_options("mysql", argv, _SHORT)
    if opts.has("version"):
        ctx.out(CLIENT_VERSION + "\n")
        return 0
    if opts.has("help"):
        ctx.out(CLIENT_VERSION + "\nUsage: mysql [OPTIONS] [database]\n")
        return 0
    who = login(ctx, opts, ("client", "mysql"))
    if opts.args:
        who.database = opts.args[0]
    if opts.password_on_cli:
        ctx.err(PASSWORD_WARNING)
    try:
        session = connect(ctx, who)
    except galera.GaleraError as exc:
        ctx.err(_error(exc.code, exc.state, exc.message))
        return 1
    try:
        if who.database:
            try:
                session.use(who.database)
            except galera.GaleraError as exc:
                ctx.err(_error(exc.code, exc.state, exc.message))
                return 1
        script = opts.get("execute")
        if script is None:
            script = (await ctx.read_stdin()).decode("utf-8", errors="replace")
        return _run_script(ctx, session, script, opts)
    finally:
        session.close()


def _run_script(ctx: Context, session: Session, script: str, opts: Options) -> int:
    try:
        statements = split(script)
    except galera.GaleraError as exc:
        ctx.err(_error(exc.code, exc.state, exc.message, 1))
        return 1
    status = 0
    for stmt in statements:
        try:
            result = session.execute(stmt)
        except galera.GaleraError as exc:
            session.commit()
            ctx.err(_error(exc.code, exc.state, exc.message, stmt.line))
            status = 1
            if not opts.has("force"):
                return 1
            continue
        if result is not None:
            ctx.out(render_result(result, opts))
    return status


# --------------------------------------------------------------------------- mysqldump

_DUMP_USAGE = ("Usage: mysqldump [OPTIONS] database [tables]\n"
               "OR     mysqldump [OPTIONS] --databases [OPTIONS] DB1 [DB2 DB3...]\n"
               "OR     mysqldump [OPTIONS] --all-databases [OPTIONS]\n"
               "For more options, use mysqldump --help\n")


@command("mysqldump")
async def mysqldump(ctx: Context, argv: list[str]) -> int:
    opts = parse_options("mysqldump", argv, _DUMP_SHORT)
    if opts.has("version"):
        ctx.out(DUMP_CLIENT_VERSION + "\n")
        return 0
    if opts.has("help"):
        ctx.out(DUMP_CLIENT_VERSION + "\n" + _DUMP_USAGE)
        return 0
    all_dbs = opts.has("all-databases")
    if not opts.args and not all_dbs:
        ctx.err(_DUMP_USAGE)
        return 1
    who = login(ctx, opts, ("client", "mysqldump"))
    if opts.password_on_cli:
        ctx.err(PASSWORD_WARNING)
    try:
        session = connect(ctx, who)
    except galera.GaleraError as exc:
        ctx.err(f"mysqldump: Got error: {exc.code}: {exc.message} when trying to connect\n")
        return 2
    try:
        return _dump(ctx, session, opts, who)
    finally:
        session.close()


def _dump(ctx: Context, session: Session, opts: Options, who: Login) -> int:
    world, cid = ctx.world, session.cluster_id
    dump_opts = DumpOptions(
        databases_mode=opts.has("databases") or opts.has("all-databases"),
        add_drop_database=opts.has("add-drop-database"),
        add_drop_table=not (opts.has("skip-add-drop-table") or opts.has("compact")),
        no_data=opts.has("no-data"),
        no_create_info=opts.has("no-create-info"),
        extended_insert=not (opts.has("skip-extended-insert") or opts.has("skip-opt")),
        add_locks=not (opts.has("skip-add-locks") or opts.has("compact")),
        comments=not (opts.has("skip-comments") or opts.has("compact")),
        all_databases=opts.has("all-databases"),
    )
    if opts.has("all-databases"):
        names = [n for n in galera.databases(world, cid) if session.account.can_use(n)]
    elif dump_opts.databases_mode:
        names = list(dict.fromkeys(opts.args))
    else:
        names = opts.args[:1]
        dump_opts.tables = opts.args[1:] or None
    if (opts.has("lock-all-tables") or opts.has("flush-logs")) and not session.account.super:
        ctx.err("mysqldump: Couldn't execute 'FLUSH TABLES WITH READ LOCK': Access denied; you need "
                "(at least one of) the RELOAD privilege(s) for this operation (1227)\n")
        return 2
    for name in names:
        if name in galera.SYSTEM_DATABASES:
            continue
        if not session.account.can_use(name):
            err = galera.denied_database(session.account, name)
            ctx.err(f"mysqldump: Got error: {err.code}: {err.message} when selecting the database\n")
            return 2
        if not galera.exists(world, cid, name):
            ctx.err(f"mysqldump: Got error: 1049: Unknown database '{name}' when selecting the database\n")
            return 2
    names = [n for n in names if n not in galera.SYSTEM_DATABASES]
    if dump_opts.tables:
        conn = galera.connect(world, cid, names[0])
        try:
            from fuellab.openstack.schema import table_names

            present = set(table_names(conn))
        finally:
            conn.close()
        missing = [t for t in dump_opts.tables if t not in present]
        if missing:
            ctx.err(f'mysqldump: Couldn\'t find table: "{missing[0]}"\n')
            return 2
    host = who.host or "localhost"
    text = "".join(dump(world, cid, names, dump_opts, host)) if names else ""
    target = opts.get("result-file")
    if target:
        fsutil.write_bytes(ctx, target, text.encode(), "mysqldump")
    else:
        ctx.out(text)
    return 0
