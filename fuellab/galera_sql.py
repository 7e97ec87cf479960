"""MySQL statements over an env's SQLite databases: what the mysql client's server answers.

A `Session` is one client connection to a serving mysqld (fuellab.galera):
it holds the current database and runs statements in MySQL's dialect
(backticks, backslash escapes in strings, `/*!40101 ... */` conditional
comments, `db.table` names, `SET GLOBAL`, `SHOW ...`, `@@variables`) by
translating them to SQLite. What mysqldump writes (`dump`) restores here
statement by statement, and a restored table has the same definition and rows.

Autocommit is emulated with one SQLite transaction per database, committed
when the session switches database, drops one, ends, or hits an error (the
statements before a failing one stay, as with autocommit; the failing one is
undone, SQLite statements being atomic).
"""

from __future__ import annotations

import fnmatch
import re
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fuellab import galera
from fuellab.galera import Account, Endpoint, GaleraError
from fuellab.openstack import schema
from fuellab.openstack.schema import Column, Index, Table

if TYPE_CHECKING:
    from fuellab.world import World

DUMP_VERSION = "10.13"
DISTRIB = "5.6.23"
MAX_INSERT = 1_000_000  # mysqldump starts a new INSERT past net_buffer_length


class SqlError(GaleraError):
    pass


def syntax_error(near: str) -> SqlError:
    near = near[:80]
    return SqlError("You have an error in your SQL syntax; check the manual that corresponds to your "
                    f"MySQL server version for the right syntax to use near '{near}' at line 1",
                    1064, "42000")


# --------------------------------------------------------------------------- lexer


@dataclass
class Tok:
    kind: str  # ws | word | ident | str | num | hex | var | op
    text: str  # the source text (for ws: " ")
    value: Any = None  # str: decoded text; ident/word: the name; var: the name after @@ or @
    line: int = 1

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words

    @property
    def name(self) -> str:
        """An identifier's name, backticked or not."""
        return self.value if self.kind == "ident" else self.text


_ESCAPES = {"0": "\x00", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_WORD_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUM_RE = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_VAR_RE = re.compile(r"@@(?:global\.|session\.|local\.)?[A-Za-z_][A-Za-z0-9_.$]*|@[A-Za-z0-9_.$]+",
                     re.IGNORECASE)
_OPS = ("<=>", "<=", ">=", "<>", "!=", ":=", "||", "&&", "<<", ">>")


def lex(text: str) -> list[Tok]:
    """Tokens of a script; comments become whitespace, conditional comments their content."""
    toks: list[Tok] = []
    i, n, line, in_cond = 0, len(text), 1, 0

    def space() -> None:
        if not toks or toks[-1].kind != "ws":
            toks.append(Tok("ws", " ", line=line))

    while i < n:
        c = text[i]
        if c in " \t\r\n\f\v":
            j = i
            while j < n and text[j] in " \t\r\n\f\v":
                j += 1
            line += text.count("\n", i, j)
            space()
            i = j
        elif c == "#" or (text.startswith("--", i) and (i + 2 >= n or text[i + 2] in " \t\r\n")):
            j = text.find("\n", i)
            i = n if j < 0 else j
            space()
        elif text.startswith("/*!", i):
            i += 3
            while i < n and text[i].isdigit():
                i += 1
            in_cond += 1
            space()
        elif text.startswith("*/", i) and in_cond:
            in_cond -= 1
            i += 2
            space()
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            line += text.count("\n", i, j)
            i = j
            space()
        elif c in "'\"":
            value, j = _string(text, i)
            line_start = line
            line += text.count("\n", i, j)
            toks.append(Tok("str", text[i:j], value, line_start))
            i = j
        elif c == "`":
            j = i + 1
            buf = []
            while j < n:
                if text[j] == "`":
                    if text.startswith("``", j):
                        buf.append("`")
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            toks.append(Tok("ident", text[i:j + 1], "".join(buf), line))
            i = j + 1
        elif c in "xX" and text.startswith("'", i + 1):
            j = text.find("'", i + 2)
            j = n if j < 0 else j
            toks.append(Tok("hex", text[i:j + 1], text[i + 2:j], line))
            i = j + 1
        elif text.startswith("0x", i) and i + 2 < n and text[i + 2] in "0123456789abcdefABCDEF":
            j = i + 2
            while j < n and text[j] in "0123456789abcdefABCDEF":
                j += 1
            toks.append(Tok("hex", text[i:j], text[i + 2:j], line))
            i = j
        elif c == "@":
            m = _VAR_RE.match(text, i)
            if not m:
                toks.append(Tok("op", c, line=line))
                i += 1
                continue
            raw = m.group(0)
            toks.append(Tok("var", raw, raw.lstrip("@"), line))
            i = m.end()
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUM_RE.match(text, i)
            assert m is not None
            if m.end() < n and (text[m.end()].isalpha() or text[m.end()] in "_$"):
                w = _WORD_RE.match(text, m.end())
                end = w.end() if w else m.end()
                toks.append(Tok("word", text[i:end], line=line))  # an identifier starting with digits
                i = end
                continue
            toks.append(Tok("num", m.group(0), line=line))
            i = m.end()
        else:
            m = _WORD_RE.match(text, i)
            if m:
                toks.append(Tok("word", m.group(0), line=line))
                i = m.end()
                continue
            op = next((o for o in _OPS if text.startswith(o, i)), c)
            toks.append(Tok("op", op, line=line))
            i += len(op)
    return toks


def _string(text: str, i: int) -> tuple[str, int]:
    quote = text[i]
    j = i + 1
    out: list[str] = []
    n = len(text)
    while j < n:
        c = text[j]
        if c == "\\" and j + 1 < n:
            nxt = text[j + 1]
            if nxt in "%_":
                out.append("\\" + nxt)  # kept as is: they are LIKE escapes
            else:
                out.append(_ESCAPES.get(nxt, nxt))
            j += 2
            continue
        if c == quote:
            if j + 1 < n and text[j + 1] == quote:
                out.append(quote)
                j += 2
                continue
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise syntax_error(text[i:i + 40])


@dataclass
class Statement:
    toks: list[Tok]
    line: int

    @property
    def words(self) -> list[str]:
        """Upper-cased leading words (keywords), whitespace skipped."""
        return [t.text.upper() for t in self.toks if t.kind != "ws"]

    def text(self) -> str:
        return "".join(t.text for t in self.toks).strip()


def split(text: str) -> list[Statement]:
    """Statements of a script, split on `;` outside strings and comments."""
    out: list[Statement] = []
    current: list[Tok] = []
    for tok in lex(text):
        if tok.kind == "op" and tok.text == ";":
            _flush(out, current)
            current = []
        else:
            current.append(tok)
    _flush(out, current)
    return out


def _flush(out: list[Statement], toks: list[Tok]) -> None:
    body = [t for t in toks]
    while body and body[0].kind == "ws":
        body.pop(0)
    while body and body[-1].kind == "ws":
        body.pop()
    if body:
        out.append(Statement(body, body[0].line))


def solid(toks: list[Tok]) -> list[Tok]:
    return [t for t in toks if t.kind != "ws"]


# --------------------------------------------------------------------------- SQLite rendering


def sqlite_literal(value: str) -> str:
    if "\x00" in value:
        return f"CAST(X'{value.encode().hex()}' AS TEXT)"
    return "'" + value.replace("'", "''") + "'"


def render(toks: list[Tok], strip_db: str | None = None, dbs: frozenset[str] = frozenset()) -> tuple[str, set[str]]:
    """SQLite text of MySQL tokens; returns it and the other databases it names (`db.table`)."""
    out: list[str] = []
    named: set[str] = set()
    k = 0
    while k < len(toks):
        t = toks[k]
        if t.kind in ("word", "ident") and k + 1 < len(toks) and toks[k + 1].kind == "op" \
                and toks[k + 1].text == "." and t.name in dbs:
            if t.name == strip_db:
                k += 2  # `current_db`.`table` -> `table`
                continue
            named.add(t.name)
            out.append(schema.q(t.name))
        elif t.kind == "str":
            out.append(sqlite_literal(t.value))
        elif t.kind == "ident":
            out.append(schema.q(t.value))
        elif t.kind == "hex":
            digits = t.value if len(t.value) % 2 == 0 else "0" + t.value
            out.append(f"X'{digits}'")
        elif t.kind == "op" and t.text in ("||", "&&"):
            out.append(" OR " if t.text == "||" else " AND ")
        else:
            out.append(t.text)
        k += 1
    return "".join(out), named


# --------------------------------------------------------------------------- MySQL DDL <-> table model

_MYSQL_TYPES = {"INTEGER": "int(11)", "BIGINT": "bigint(20)", "BOOLEAN": "tinyint(1)", "TEXT": "text",
                "MEDIUMTEXT": "mediumtext", "LONGTEXT": "longtext", "DATETIME": "datetime",
                "FLOAT": "float", "DOUBLE": "double", "BLOB": "blob", "MEDIUMBLOB": "mediumblob",
                "LONGBLOB": "longblob", "DATE": "date", "TIME": "time", "SMALLINT": "smallint(6)",
                "TINYINT": "tinyint(4)", "TIMESTAMP": "timestamp"}
_NUMERIC = ("INTEGER", "BIGINT", "BOOLEAN", "FLOAT", "DOUBLE", "SMALLINT", "TINYINT", "DECIMAL", "NUMERIC")
_NO_DEFAULT_TYPES = ("TEXT", "MEDIUMTEXT", "LONGTEXT", "BLOB", "MEDIUMBLOB", "LONGBLOB")


def mysql_type(sqlite_type: str) -> str:
    if sqlite_type in _MYSQL_TYPES:
        return _MYSQL_TYPES[sqlite_type]
    return sqlite_type.lower()


INNODB_PAGE = 16384  # InnoDB stores rows and index entries in 16 KiB pages: its lengths are whole pages


def _stored_bytes(db: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> int:
    """The bytes the rows hold in `columns` (each value as stored), what a dump of them writes, roughly."""
    if not columns:
        return 0
    per_row = " + ".join(f"COALESCE(LENGTH(CAST({schema.q(c)} AS BLOB)), 0)" for c in columns)
    return int(db.execute(f"SELECT COALESCE(SUM({per_row}), 0) FROM {schema.q(table)}").fetchone()[0])


def _pages(raw: int) -> int:
    return max(1, -(-raw // INNODB_PAGE)) * INNODB_PAGE


def storage_lengths(db: sqlite3.Connection, table: Table) -> tuple[int, int]:
    """information_schema's (DATA_LENGTH, INDEX_LENGTH) of a table, derived from its rows: the clustered
    index (every column) and each secondary index (its columns plus the primary key) in whole pages,
    as InnoDB reports them; an empty table still holds one page of data and none of index."""
    data = _pages(_stored_bytes(db, table.name, tuple(c.name for c in table.columns)))
    index = sum(_pages(_stored_bytes(db, table.name, tuple(dict.fromkeys(i.columns + table.primary_key))))
                for i in table.indexes)
    return data, index


def sqlite_type(mysql: str) -> str:
    """The stored type for a MySQL column type (inverse of `mysql_type`)."""
    t = mysql.lower().replace(" unsigned", "").replace(" zerofill", "").strip()
    base, _, args = t.partition("(")
    args = args.rstrip(")")
    if base in ("int", "integer", "mediumint"):
        return "INTEGER"
    if base == "tinyint":
        return "BOOLEAN" if args == "1" else "TINYINT"
    if base in ("bool", "boolean"):
        return "BOOLEAN"
    if base in ("varchar", "char", "varbinary", "binary", "decimal", "numeric"):
        return f"{base.upper()}({args})" if args else base.upper()
    if base in ("enum", "set"):
        width = max((len(v.strip().strip("'")) for v in args.split(",")), default=1)
        return f"VARCHAR({width})"
    for key, value in _MYSQL_TYPES.items():
        if value.split("(")[0] == base:
            return key
    return base.upper()


def _is_numeric(stored: str) -> bool:
    return stored.split("(")[0] in _NUMERIC


def mysql_create(table: Table, auto_increment: int | None = None) -> str:
    """CREATE TABLE as SHOW CREATE TABLE prints it."""
    lines = []
    single_int_pk = len(table.primary_key) == 1 and \
        (table.column(table.primary_key[0]) or Column("", "")).type == "INTEGER"
    for col in table.columns:
        text = f"  `{col.name}` {mysql_type(col.type)}"
        if not col.nullable:
            text += " NOT NULL"
        if col.default is not None and col.default.upper() != "NULL":
            text += f" DEFAULT {_mysql_default(col.default)}"
        elif col.nullable and col.type not in _NO_DEFAULT_TYPES:
            text += " DEFAULT NULL"
        if single_int_pk and col.name == table.primary_key[0]:
            text += " AUTO_INCREMENT"
        lines.append(text)
    if table.primary_key:
        lines.append(f"  PRIMARY KEY ({','.join(f'`{c}`' for c in table.primary_key)})")
    for index in sorted(table.indexes, key=lambda i: (not i.unique,)):
        kind = "UNIQUE KEY" if index.unique else "KEY"
        lines.append(f"  {kind} `{index.name}` ({','.join(f'`{c}`' for c in index.columns)})")
    options = "ENGINE=InnoDB"
    if auto_increment:
        options += f" AUTO_INCREMENT={auto_increment}"
    options += " DEFAULT CHARSET=utf8"
    return f"CREATE TABLE `{table.name}` (\n" + ",\n".join(lines) + f"\n) {options}"


def _mysql_default(literal: str) -> str:
    text = literal.strip()
    if text.startswith("'"):
        return text
    if text.upper() in ("CURRENT_TIMESTAMP",):
        return text.upper()
    return "'" + text.strip("'") + "'"


def parse_create_table(toks: list[Tok]) -> tuple[Table, bool]:
    """A MySQL CREATE TABLE statement as a table model; also whether IF NOT EXISTS was given."""
    s = solid(toks)
    k = 2  # CREATE TABLE
    if s[1].is_word("TEMPORARY"):
        k = 3
    if_not_exists = False
    if len(s) > k + 2 and s[k].is_word("IF"):
        if_not_exists = True
        k += 3
    name = s[k].name
    k += 1
    if k < len(s) and s[k].text == ".":  # db.table
        name = s[k + 1].name
        k += 2
    if k >= len(s) or s[k].text != "(":
        raise syntax_error(" ".join(t.text for t in s[k:k + 5]))
    items, depth, current = [], 0, []
    for tok in s[k + 1:]:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            if depth == 0:
                break
            depth -= 1
        if tok.text == "," and depth == 0:
            items.append(current)
            current = []
        else:
            current.append(tok)
    items.append(current)
    columns: list[Column] = []
    pk: tuple[str, ...] = ()
    indexes: list[Index] = []
    for item in items:
        if not item:
            continue
        head = item[0]
        if head.is_word("CONSTRAINT"):
            item = item[2:] if len(item) > 2 and not item[1].is_word("PRIMARY", "UNIQUE", "FOREIGN", "CHECK") \
                else item[1:]
            head = item[0]
        if head.is_word("PRIMARY"):
            pk = _key_columns(item)
        elif head.is_word("UNIQUE"):
            cols = _key_columns(item)
            indexes.append(Index(_key_name(item[1:]) or cols[0], cols, True))
        elif head.is_word("KEY", "INDEX", "FULLTEXT", "SPATIAL"):
            cols = _key_columns(item)
            indexes.append(Index(_key_name(item) or cols[0], cols, False))
        elif head.is_word("FOREIGN", "CHECK"):
            continue
        else:
            col, inline_pk, inline_unique = _parse_column(item)
            columns.append(col)
            if inline_pk:
                pk = (col.name,)
            if inline_unique:
                indexes.append(Index(col.name, (col.name,), True))
    columns = [Column(c.name, c.type, False, c.default) if c.name in pk else c for c in columns]
    return Table(name, tuple(columns), pk, tuple(indexes)), if_not_exists


def _key_name(item: list[Tok]) -> str | None:
    for tok in item[1:]:
        if tok.text == "(":
            return None
        if tok.is_word("KEY", "INDEX"):
            continue
        if tok.kind in ("ident", "word"):
            return tok.name
    return None


def _key_columns(item: list[Tok]) -> tuple[str, ...]:
    start = next(i for i, t in enumerate(item) if t.text == "(")
    cols, depth = [], 0
    for tok in item[start + 1:]:
        if tok.text == "(":
            depth += 1  # a prefix length: `name`(255)
            continue
        if tok.text == ")":
            if depth == 0:
                break
            depth -= 1
            continue
        if depth == 0 and tok.kind in ("ident", "word") and not tok.is_word("ASC", "DESC"):
            cols.append(tok.name)
    return tuple(cols)


def _parse_column(item: list[Tok]) -> tuple[Column, bool, bool]:
    name = item[0].name
    k = 1
    type_text = item[k].text
    k += 1
    if k < len(item) and item[k].text == "(":
        depth = 0
        args = []
        while k < len(item):
            tok = item[k]
            args.append(tok.text if tok.kind != "str" else tok.text)
            if tok.text == "(":
                depth += 1
            elif tok.text == ")":
                depth -= 1
                if depth == 0:
                    k += 1
                    break
            k += 1
        type_text += "".join(args)
    nullable, default, pk, unique = True, None, False, False
    stored = None
    while k < len(item):
        tok = item[k]
        if tok.is_word("UNSIGNED", "ZEROFILL", "AUTO_INCREMENT", "BINARY"):
            k += 1
        elif tok.is_word("NOT") and k + 1 < len(item) and item[k + 1].is_word("NULL"):
            nullable = False
            k += 2
        elif tok.is_word("NULL"):
            k += 1
        elif tok.is_word("DEFAULT") and k + 1 < len(item):
            stored = stored or sqlite_type(type_text)
            default = _default_literal(item[k + 1], item[k + 2] if k + 2 < len(item) else None, stored)
            k += 2
            if item[k - 1].text in ("-", "+"):
                k += 1
        elif tok.is_word("CHARACTER", "CHARSET", "COLLATE", "COMMENT", "ON"):
            k += 3 if tok.is_word("CHARACTER", "ON") else 2
        elif tok.is_word("PRIMARY"):
            pk = True
            k += 2
        elif tok.is_word("UNIQUE"):
            unique = True
            k += 2 if k + 1 < len(item) and item[k + 1].is_word("KEY") else 1
        else:
            k += 1
    return Column(name, sqlite_type(type_text), nullable, default), pk, unique


def _default_literal(tok: Tok, nxt: Tok | None, stored: str) -> str | None:
    if tok.is_word("NULL"):
        return None
    if tok.kind == "str":
        value = tok.value
        if _is_numeric(stored) and re.fullmatch(r"-?\d+(\.\d+)?", value):
            return value
        return sqlite_literal(value)
    if tok.text in ("-", "+") and nxt is not None:
        return tok.text + nxt.text
    if tok.is_word("CURRENT_TIMESTAMP"):
        return "CURRENT_TIMESTAMP"
    return tok.text


# --------------------------------------------------------------------------- results


@dataclass
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass
class Session:
    """One client connection to the env's server `endpoint.server`, as `account`."""

    world: World
    endpoint: Endpoint
    account: Account
    current: str | None = None
    user_vars: dict[str, Any] = field(default_factory=dict)
    conn: sqlite3.Connection | None = None
    attached: set[str] = field(default_factory=set)
    writes: dict[str, int] = field(default_factory=dict)
    in_tx: bool = False

    @property
    def cluster_id(self) -> int:
        return self.endpoint.cluster_id

    # ------------------------------------------------------------------ connection handling

    def dbs(self) -> frozenset[str]:
        return frozenset(galera.databases(self.world, self.cluster_id)) | {"information_schema"}

    def _open(self) -> sqlite3.Connection:
        if self.conn is None:
            if self.current and self.current not in galera.SYSTEM_DATABASES:
                self.conn = galera.connect(self.world, self.cluster_id, self.current, autocommit=True)
            else:
                self.conn = sqlite3.connect(":memory:", isolation_level=None)
                galera.register_functions(self.conn, self.world)
            self.attached = set()
        return self.conn

    def commit(self) -> None:
        if self.conn is not None and self.in_tx:
            self.conn.execute("COMMIT")
            self.in_tx = False
        for name, count in self.writes.items():
            galera.note_write(self.world, self.cluster_id, name, count)
        self.writes = {}

    def close(self) -> None:
        self.commit()
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.attached = set()

    def _begin(self) -> None:
        conn = self._open()
        if not self.in_tx:
            conn.execute("BEGIN")
            self.in_tx = True

    def _attach(self, names: set[str]) -> None:
        conn = self._open()
        missing = {n for n in names if n not in self.attached}
        if not missing:
            return
        self.commit()  # SQLite attaches outside a transaction only
        for name in sorted(missing):
            if not self.account.can_use(name):
                raise galera.denied_database(self.account, name)
            if name == "information_schema":
                conn.execute("ATTACH DATABASE ':memory:' AS information_schema")
                self._fill_information_schema(conn)
            else:
                path = galera.db_path(self.world, self.cluster_id, name)
                if not path.exists():
                    raise galera.UnknownDatabase(name)
                conn.execute("ATTACH DATABASE ? AS " + schema.q(name), (str(path),))
            self.attached.add(name)

    def _fill_information_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE information_schema.SCHEMATA (CATALOG_NAME, SCHEMA_NAME, "
                     "DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME)")
        conn.execute("CREATE TABLE information_schema.TABLES (TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, "
                     "TABLE_TYPE, ENGINE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH)")
        conn.execute("CREATE TABLE information_schema.COLUMNS (TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, "
                     "COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE, COLUMN_TYPE)")
        for name in self.visible_databases():
            conn.execute("INSERT INTO information_schema.SCHEMATA VALUES ('def', ?, 'utf8', 'utf8_general_ci')",
                         (name,))
            if name in galera.SYSTEM_DATABASES:
                continue
            db = galera.connect(self.world, self.cluster_id, name)
            try:
                for table in schema.table_names(db):
                    count = db.execute(f"SELECT COUNT(*) FROM {schema.q(table)}").fetchone()[0]
                    shape = schema.introspect(db, table)
                    data, index = storage_lengths(db, shape)
                    conn.execute("INSERT INTO information_schema.TABLES VALUES "
                                 "('def', ?, ?, 'BASE TABLE', 'InnoDB', ?, ?, ?)", (name, table, count, data, index))
                    for pos, col in enumerate(shape.columns, start=1):
                        conn.execute("INSERT INTO information_schema.COLUMNS VALUES "
                                     "('def', ?, ?, ?, ?, ?, ?, ?, ?)",
                                     (name, table, col.name, pos, col.default,
                                      "YES" if col.nullable else "NO",
                                      mysql_type(col.type).split("(")[0], mysql_type(col.type)))
            finally:
                db.close()

    def visible_databases(self) -> list[str]:
        names = ["information_schema"] + galera.databases(self.world, self.cluster_id)
        if self.account.super:
            names += ["mysql", "performance_schema"]
        return sorted({n for n in names if self.account.can_use(n)},
                      key=lambda n: (n != "information_schema", n))

    # ------------------------------------------------------------------ statements

    def use(self, name: str) -> None:
        if name in galera.SYSTEM_DATABASES:
            if not self.account.can_use(name):
                raise galera.denied_database(self.account, name)
        elif not galera.exists(self.world, self.cluster_id, name):
            raise galera.UnknownDatabase(name)
        elif not self.account.can_use(name):
            raise galera.denied_database(self.account, name)
        self.close()
        self.current = name

    def execute(self, stmt: Statement) -> Result | None:
        """Run one statement; a result set for queries, None otherwise."""
        s = solid(stmt.toks)
        words = [t.text.upper() for t in s[:4]]
        first = words[0]
        if first == "USE":
            self.use(s[1].name if len(s) > 1 else "")
            return None
        if first in ("SHOW",):
            return self._show(s)
        if first in ("DESCRIBE", "DESC", "EXPLAIN") and len(s) > 1 and s[1].kind in ("word", "ident") \
                and not s[1].is_word("SELECT"):
            return self._describe(*_qualified(s, 1))
        if first == "SET":
            self._set(s)
            return None
        if first in ("LOCK", "UNLOCK", "FLUSH"):
            if first == "FLUSH" and not self.account.super:
                raise SqlError("Access denied; you need (at least one of) the RELOAD privilege(s) "
                               "for this operation", 1227, "42000")
            return None
        if first in ("BEGIN", "START"):
            return None
        if first == "COMMIT":
            self.commit()
            return None
        if first == "ROLLBACK":
            if self.conn is not None and self.in_tx:
                self.conn.execute("ROLLBACK")
                self.in_tx = False
                self.writes = {}
            return None
        if first in ("CREATE", "DROP") and len(words) > 1 and words[1] in ("DATABASE", "SCHEMA"):
            self._database_ddl(s)
            return None
        if first == "CREATE" and "TABLE" in words[1:3]:
            self._create_table(stmt)
            return None
        if first in ("GRANT", "REVOKE") or (first in ("CREATE", "DROP") and words[1:2] == ["USER"]):
            if not self.account.super:
                raise SqlError("Access denied; you need (at least one of) the CREATE USER privilege(s) "
                               "for this operation", 1227, "42000")
            return None
        if first == "ALTER" and any(t.is_word("DISABLE", "ENABLE") for t in s[3:5]) \
                and any(t.is_word("KEYS") for t in s[3:6]):
            return None
        if first == "SELECT" or first == "(":
            return self._query(stmt)
        if first == "DROP" and words[1:2] == ["TABLE"]:
            self._drop_tables(s)
            return None
        if first == "TRUNCATE":
            name = s[2] if len(s) > 2 and s[1].is_word("TABLE") else s[1]
            return self._write(Statement([Tok("word", "DELETE"), Tok("ws", " "), Tok("word", "FROM"),
                                          Tok("ws", " "), name], stmt.line))
        if first in ("INSERT", "REPLACE", "UPDATE", "DELETE", "ALTER", "CREATE", "DROP", "RENAME"):
            return self._write(stmt)
        raise syntax_error(stmt.text())

    # ------------------------------------------------------------------ queries and writes

    def _prepare(self, stmt: Statement) -> str:
        toks = self._substitute_vars(stmt.toks)
        text, named = render(toks, self.current, self.dbs())
        if named:
            self._attach(named)
        else:
            self._open()
        return text

    def _query(self, stmt: Statement) -> Result:
        text = self._prepare(stmt)
        conn = self._open()
        try:
            cur = conn.execute(text)
        except sqlite3.Error as exc:
            raise self._map_error(exc, stmt) from None
        names = [d[0] for d in cur.description or []]
        return Result(names, [tuple(r) for r in cur.fetchall()])

    def check_writable(self) -> None:
        if not self.account.super and galera.read_only(self.world, self.endpoint.server):
            raise galera.ReadOnly()

    def _write(self, stmt: Statement) -> None:
        self.check_writable()
        # MySQL's `INSERT INTO t () VALUES ()` is SQLite's `DEFAULT VALUES`.
        text = re.sub(r"\(\s*\)\s*VALUES\s*\(\s*\)\s*$", "DEFAULT VALUES", self._prepare(stmt), flags=re.I)
        self._begin()
        try:
            self.conn.execute(text)  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            raise self._map_error(exc, stmt) from None
        target = self._written_database(stmt)
        if target:
            self.writes[target] = self.writes.get(target, 0) + 1

    def _written_database(self, stmt: Statement) -> str | None:
        s = solid(stmt.toks)
        for k, tok in enumerate(s[:-1]):
            if s[k + 1].text == "." and tok.name in self.dbs():
                return tok.name
        return self.current

    def _map_error(self, exc: sqlite3.Error, stmt: Statement) -> GaleraError:
        msg = str(exc)
        m = re.match(r"no such table: (?:(\w+)\.)?(\S+)", msg)
        if m:
            if self.current is None and not m.group(1):
                return SqlError("No database selected", 1046, "3D000")
            db = m.group(1) if m.group(1) and m.group(1) != "main" else self.current
            return SqlError(f"Table '{db}.{m.group(2)}' doesn't exist", 1146, "42S02")
        m = re.match(r"no such column: (\S+)", msg)
        if m:
            return SqlError(f"Unknown column '{m.group(1)}' in 'field list'", 1054, "42S22")
        m = re.match(r"table (\S+) has no column named (\S+)", msg)
        if m:
            return SqlError(f"Unknown column '{m.group(2)}' in 'field list'", 1054, "42S22")
        m = re.match(r"(?:UNIQUE|PRIMARY KEY) constraint failed: (.*)", msg)
        if m:
            return SqlError(f"Duplicate entry for key '{m.group(1)}'", 1062, "23000")
        m = re.match(r"NOT NULL constraint failed: \S+\.(\S+)", msg)
        if m:
            return SqlError(f"Column '{m.group(1)}' cannot be null", 1048, "23000")
        m = re.match(r"table (\S+) already exists", msg)
        if m:
            return SqlError(f"Table '{m.group(1).strip(chr(34))}' already exists", 1050, "42S01")
        m = re.match(r"table (\S+) has (\d+) columns but (\d+) values were supplied", msg)
        if m:
            return SqlError("Column count doesn't match value count at row 1", 1136, "21S01")
        if "syntax error" in msg or "incomplete input" in msg or "unrecognized token" in msg:
            near = re.search(r'near "([^"]*)"', msg)
            return syntax_error(near.group(1) if near else stmt.text())
        return SqlError(msg, 1105, "HY000")

    # ------------------------------------------------------------------ variables

    def variables(self) -> dict[str, str]:
        server = self.endpoint.server
        return {
            "read_only": "ON" if galera.read_only(self.world, server) else "OFF",
            "hostname": server.hostname,
            "version": galera.SERVER_VERSION,
            "version_comment": "(Ubuntu), wsrep_25.10",
            "port": str(galera.MYSQLD_PORT),
            "socket": galera.SOCKET,
            "datadir": "/var/lib/mysql/",
            "wsrep_on": "ON",
            "wsrep_cluster_name": "openstack",
            "wsrep_node_name": server.hostname,
            "wsrep_node_address": server.ips.get("management", ""),
            "wsrep_provider": "/usr/lib/galera/libgalera_smm.so",
            "max_connections": "8192",
            "autocommit": "ON",
            "character_set_server": "utf8",
        }

    def status(self) -> dict[str, str]:
        primary = galera.primary_component(self.world, self.cluster_id)
        server = self.endpoint.server
        index = next((i for i, n in enumerate(primary) if n.id == server.id), 0)
        state_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fuellab-galera-env-{self.cluster_id}"))
        writes = self.world.clusters[self.cluster_id].galera.get("writes", {})
        return {
            "wsrep_local_state_uuid": state_uuid,
            "wsrep_protocol_version": "5",
            "wsrep_last_committed": str(sum(int(w.get("count", 0)) for w in writes.values())),
            "wsrep_cluster_conf_id": str(len(primary)),
            "wsrep_cluster_size": str(len(primary)),
            "wsrep_cluster_state_uuid": state_uuid,
            "wsrep_cluster_status": "Primary",
            "wsrep_connected": "ON",
            "wsrep_local_index": str(index),
            "wsrep_local_state": "4",
            "wsrep_local_state_comment": "Synced",
            "wsrep_incoming_addresses": ",".join(f"{n.ips.get('management', '')}:{galera.MYSQLD_PORT}"
                                                 for n in primary),
            "wsrep_provider_name": "Galera",
            "wsrep_provider_vendor": "Codership Oy <info@codership.com>",
            "wsrep_provider_version": "3.11(r93aca2d)",
            "wsrep_ready": "ON",
            "Threads_connected": "1",
            "Uptime": str(max(0, int(self.world.clock.now() - server.booted_at))),
        }

    def _var_value(self, name: str) -> Any:
        lowered = name.lower()
        for prefix in ("global.", "session.", "local."):
            if lowered.startswith(prefix):
                lowered = lowered[len(prefix):]
        values = self.variables()
        if lowered == "read_only":
            return 1 if values["read_only"] == "ON" else 0
        if lowered in values:
            value = values[lowered]
            return int(value) if value.isdigit() else value
        if lowered in ("character_set_client", "character_set_results", "collation_connection",
                       "time_zone", "sql_mode", "unique_checks", "foreign_key_checks", "sql_notes"):
            return {"time_zone": "SYSTEM", "sql_mode": "NO_ENGINE_SUBSTITUTION",
                    "unique_checks": 1, "foreign_key_checks": 1, "sql_notes": 1}.get(lowered, "utf8")
        raise SqlError(f"Unknown system variable '{lowered}'", 1193, "HY000")

    def _substitute_vars(self, toks: list[Tok]) -> list[Tok]:
        if not any(t.kind == "var" for t in toks):
            return toks
        out: list[Tok] = []
        for k, tok in enumerate(toks):
            if tok.kind != "var":
                out.append(tok)
                continue
            if tok.text.startswith("@@"):
                value = self._var_value(tok.value)
            else:
                value = self.user_vars.get(tok.value.lower())
            literal = "NULL" if value is None else (str(value) if isinstance(value, int)
                                                    else sqlite_literal(str(value)))
            if _is_select_item(toks, k):
                literal += " AS " + schema.q(tok.text)
            out.append(Tok("word", literal))
        return out

    def _set(self, s: list[Tok]) -> None:
        for assignment in _split_commas(s[1:]):
            if not assignment:
                continue
            head = assignment[0]
            scope = None
            if head.is_word("GLOBAL", "SESSION", "LOCAL"):
                scope = head.text.upper()
                assignment = assignment[1:]
                head = assignment[0] if assignment else head
            if head.is_word("NAMES", "CHARACTER", "TRANSACTION", "PASSWORD", "AUTOCOMMIT"):
                continue
            eq = next((i for i, t in enumerate(assignment) if t.text in ("=", ":=")), None)
            if eq is None:
                raise syntax_error(" ".join(t.text for t in assignment))
            value_toks = assignment[eq + 1:]
            if head.kind == "var" and not head.text.startswith("@@"):
                self.user_vars[head.value.lower()] = self._eval(value_toks)
                continue
            name = head.value if head.kind == "var" else head.text
            lowered = name.lower()
            if lowered.startswith("global."):
                scope, lowered = "GLOBAL", lowered[7:]
            elif lowered.startswith(("session.", "local.")):
                lowered = lowered.split(".", 1)[1]
            if lowered != "read_only":
                continue  # session settings of the dump's preamble and the like: no effect in the lab
            if scope != "GLOBAL":
                raise SqlError("Variable 'read_only' is a GLOBAL variable and should be set with SET GLOBAL",
                               1229, "HY000")
            if not self.account.super:
                raise SqlError("Access denied; you need (at least one of) the SUPER privilege(s) "
                               "for this operation", 1227, "42000")
            raw = "".join(t.value if t.kind == "str" else t.text for t in value_toks).strip().upper()
            if raw in ("ON", "1", "TRUE"):
                galera.set_read_only(self.world, self.endpoint.server, True)
            elif raw in ("OFF", "0", "FALSE"):
                galera.set_read_only(self.world, self.endpoint.server, False)
            else:
                raise SqlError(f"Variable 'read_only' can't be set to the value of '{raw}'", 1231, "42000")

    def _eval(self, toks: list[Tok]) -> Any:
        if len(toks) == 1 and toks[0].kind == "str":
            return toks[0].value
        if len(toks) == 1 and toks[0].kind == "num":
            return int(toks[0].text) if toks[0].text.isdigit() else float(toks[0].text)
        if len(toks) == 1 and toks[0].kind == "var":
            if toks[0].text.startswith("@@"):
                return self._var_value(toks[0].value)
            return self.user_vars.get(toks[0].value.lower())
        return "".join(t.text for t in toks)

    # ------------------------------------------------------------------ SHOW / DESCRIBE

    def _show(self, s: list[Tok]) -> Result:
        words = [t.text.upper() for t in s]
        like = _like_pattern(s)
        if words[1:2] in (["DATABASES"], ["SCHEMAS"]):
            names = [n for n in self.visible_databases() if like is None or _like(n, like)]
            header = "Database" if like is None else f"Database ({like})"
            return Result([header], [(n,) for n in names])
        if "TABLES" in words[1:3]:
            db = self.current
            k = words.index("TABLES")
            if len(s) > k + 2 and words[k + 1] in ("FROM", "IN"):
                db = s[k + 2].name
            if db is None:
                raise SqlError("No database selected", 1046, "3D000")
            if db not in galera.SYSTEM_DATABASES and not galera.exists(self.world, self.cluster_id, db):
                raise galera.UnknownDatabase(db)
            if not self.account.can_use(db):
                raise galera.denied_database(self.account, db)
            tables = self._tables(db)
            header = f"Tables_in_{db}" + (f" ({like})" if like else "")
            return Result([header], [(t,) for t in tables if like is None or _like(t, like)])
        if "STATUS" in words[1:3] and "SLAVE" not in words and "MASTER" not in words:
            values = self.status()
            return Result(["Variable_name", "Value"],
                          [(k, v) for k, v in values.items() if like is None or _like(k, like)])
        if "VARIABLES" in words[1:3]:
            values = self.variables()
            return Result(["Variable_name", "Value"],
                          [(k, v) for k, v in sorted(values.items()) if like is None or _like(k, like)])
        if words[1:3] == ["CREATE", "TABLE"]:
            name, db = _qualified(s, 3)
            table = self._table(name, db)
            return Result(["Table", "Create Table"], [(name, mysql_create(table))])
        if words[1:3] == ["CREATE", "DATABASE"]:
            name = s[3].name
            if not galera.exists(self.world, self.cluster_id, name):
                raise galera.UnknownDatabase(name)
            return Result(["Database", "Create Database"],
                          [(name, f"CREATE DATABASE `{name}` /*!40100 DEFAULT CHARACTER SET utf8 */")])
        if words[1:2] in (["COLUMNS"], ["FIELDS"]) or words[1:3] in (["FULL", "COLUMNS"],):
            k = words.index("FROM") if "FROM" in words else words.index("IN")
            described = self._describe(*_qualified(s, k + 1))
            described.rows = [r for r in described.rows if like is None or _like(r[0], like)]
            return described
        if words[1:2] == ["GRANTS"]:
            return Result([f"Grants for {self.account.user}@{self.account.host}"],
                          [(f"GRANT ALL PRIVILEGES ON *.* TO '{self.account.user}'@'{self.account.host}'",)])
        raise syntax_error(" ".join(t.text for t in s))

    def _tables(self, db: str) -> list[str]:
        if db in galera.SYSTEM_DATABASES:
            return ["COLUMNS", "SCHEMATA", "TABLES"] if db == "information_schema" else []
        if db == self.current:
            return schema.table_names(self._open())
        conn = galera.connect(self.world, self.cluster_id, db)
        try:
            return schema.table_names(conn)
        finally:
            conn.close()

    def _table(self, name: str, db: str | None = None) -> Table:
        db = db or self.current
        if db is None:
            raise SqlError("No database selected", 1046, "3D000")
        if db in galera.SYSTEM_DATABASES or not galera.exists(self.world, self.cluster_id, db):
            raise SqlError(f"Table '{db}.{name}' doesn't exist", 1146, "42S02")
        if not self.account.can_use(db):
            raise galera.denied_database(self.account, db)
        own = db == self.current  # the session's connection sees its uncommitted DDL
        conn = self._open() if own else galera.connect(self.world, self.cluster_id, db)
        try:
            if name not in schema.table_names(conn):
                raise SqlError(f"Table '{db}.{name}' doesn't exist", 1146, "42S02")
            return schema.introspect(conn, name)
        finally:
            if not own:
                conn.close()

    def _describe(self, name: str, db: str | None = None) -> Result:
        table = self._table(name, db)
        unique = {i.columns[0] for i in table.indexes if i.unique and len(i.columns) == 1}
        multiple = {i.columns[0] for i in table.indexes if not (i.unique and len(i.columns) == 1)}
        rows = []
        for col in table.columns:
            key = "PRI" if col.name in table.primary_key else "UNI" if col.name in unique else \
                "MUL" if col.name in multiple else ""
            extra = "auto_increment" if table.primary_key == (col.name,) and col.type == "INTEGER" else ""
            default = None if col.default is None else col.default.strip("'")
            rows.append((col.name, mysql_type(col.type), "YES" if col.nullable else "NO", key, default, extra))
        return Result(["Field", "Type", "Null", "Key", "Default", "Extra"], rows)

    # ------------------------------------------------------------------ DDL

    def _database_ddl(self, s: list[Tok]) -> None:
        create = s[0].is_word("CREATE")
        k = 2
        guarded = False
        if len(s) > k + 1 and s[k].is_word("IF"):
            guarded = True
            k += 3 if create else 2
        if k >= len(s):
            raise syntax_error("")
        name = s[k].name
        if name in galera.SYSTEM_DATABASES or not self.account.super:
            raise SqlError(f"Access denied for user '{self.account.user}'@'{self.account.host}' "
                           f"to database '{name}'", 1044, "42000")
        self.check_writable()
        if create:
            if galera.exists(self.world, self.cluster_id, name) and guarded:
                return
            galera.create_database(self.world, self.cluster_id, name)
            return
        if not galera.exists(self.world, self.cluster_id, name) and guarded:
            return
        if self.current == name or name in self.attached:
            self.close()
        if self.current == name:
            self.current = None  # as in MySQL: the session has no database any more
        galera.drop_database(self.world, self.cluster_id, name)
        galera.note_write(self.world, self.cluster_id, name)

    def _create_table(self, stmt: Statement) -> None:
        self.check_writable()
        s = solid(stmt.toks)
        if any(t.is_word("SELECT", "LIKE") for t in s):
            self._write(stmt)
            return
        table, if_not_exists = parse_create_table(stmt.toks)
        if self.current is None:
            raise SqlError("No database selected", 1046, "3D000")
        conn = self._open()
        if table.name in schema.table_names(conn):
            if if_not_exists:
                return
            raise SqlError(f"Table '{table.name}' already exists", 1050, "42S01")
        self._begin()
        try:
            schema.create_table(conn, table)
        except sqlite3.Error as exc:
            raise self._map_error(exc, stmt) from None
        self.writes[self.current] = self.writes.get(self.current, 0) + 1

    def _drop_tables(self, s: list[Tok]) -> None:
        self.check_writable()
        k = 2
        guarded = False
        if len(s) > 3 and s[2].is_word("IF"):
            guarded = True
            k = 4
        names = [t for t in s[k:] if t.kind in ("word", "ident") and not t.is_word("RESTRICT", "CASCADE")]
        if self.current is None:
            raise SqlError("No database selected", 1046, "3D000")
        conn = self._open()
        present = set(schema.table_names(conn))
        missing = [t.name for t in names if t.name not in present]
        if missing and not guarded:
            raise SqlError(f"Unknown table '{self.current}.{missing[0]}'", 1051, "42S02")
        self._begin()
        for tok in names:
            if tok.name in present:
                conn.execute(f"DROP TABLE {schema.q(tok.name)}")
        self.writes[self.current] = self.writes.get(self.current, 0) + 1


def _qualified(s: list[Tok], k: int) -> tuple[str, str | None]:
    """(table, database) of a `table` or `db.table` name at s[k]."""
    if k + 2 < len(s) and s[k + 1].text == ".":
        return s[k + 2].name, s[k].name
    return s[k].name, None


def _split_commas(toks: list[Tok]) -> list[list[Tok]]:
    out: list[list[Tok]] = [[]]
    depth = 0
    for tok in toks:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        if tok.text == "," and depth == 0:
            out.append([])
        elif tok.kind != "ws":
            out[-1].append(tok)
    return out


def _is_select_item(toks: list[Tok], k: int) -> bool:
    """Is toks[k] a whole select-list item without an alias?"""
    before = next((t for t in reversed(toks[:k]) if t.kind != "ws"), None)
    after = next((t for t in toks[k + 1:] if t.kind != "ws"), None)
    starts = before is not None and (before.is_word("SELECT") or before.text == ",")
    ends = after is None or after.text == "," or after.is_word("FROM", "LIMIT", "WHERE")
    return starts and ends


def _like_pattern(s: list[Tok]) -> str | None:
    for k, tok in enumerate(s):
        if tok.is_word("LIKE") and k + 1 < len(s) and s[k + 1].kind == "str":
            return s[k + 1].value
    return None


def _like(value: str, pattern: str) -> bool:
    glob = "".join("*" if c == "%" else "?" if c == "_" else "[" + c + "]" if c in "[]*?" else c
                   for c in pattern.replace("\\_", "\x01").replace("\\%", "\x02"))
    glob = glob.replace("\x01", "_").replace("\x02", "%")
    return fnmatch.fnmatchcase(value.lower(), glob.lower())


# --------------------------------------------------------------------------- mysqldump


def mysql_value(value: Any) -> str:
    """A value as mysqldump writes it in an INSERT."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value)) if abs(value) < 1e15 else repr(value)
    if isinstance(value, bytes):
        return "0x" + value.hex() if value else "''"
    text = str(value)
    out = []
    for c in text:
        if c == "\\":
            out.append("\\\\")
        elif c == "'":
            out.append("\\'")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\x00":
            out.append("\\0")
        elif c == "\x1a":
            out.append("\\Z")
        else:
            out.append(c)
    return "'" + "".join(out) + "'"


DUMP_PREAMBLE = """/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
"""

DUMP_POSTAMBLE = """/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;
"""


@dataclass
class DumpOptions:
    databases_mode: bool = False  # --databases / --all-databases: CREATE DATABASE and USE
    add_drop_database: bool = False
    add_drop_table: bool = True
    no_data: bool = False
    no_create_info: bool = False
    extended_insert: bool = True
    add_locks: bool = True
    comments: bool = True
    tables: list[str] | None = None  # only these tables (single-database mode)
    all_databases: bool = False


def dump(world: World, cluster_id: int, names: list[str], opts: DumpOptions, host: str = "localhost") -> Iterator[str]:
    """mysqldump's output for the env's databases `names`, chunk by chunk."""
    first_db = names[0] if names and not opts.all_databases else ""
    if opts.comments:
        yield (f"-- MySQL dump {DUMP_VERSION}  Distrib {DISTRIB}, for debian-linux-gnu (x86_64)\n--\n"
               f"-- Host: {host}    Database: {first_db}\n"
               "-- ------------------------------------------------------\n"
               f"-- Server version\t{galera.SERVER_VERSION}\n\n")
    yield DUMP_PREAMBLE
    for name in names:
        conn = galera.connect(world, cluster_id, name)
        try:
            yield from _dump_database(conn, name, opts)
        finally:
            conn.close()
    yield DUMP_POSTAMBLE
    if opts.comments:
        yield f"\n-- Dump completed on {galera.lab_datetime(world)}\n"


def _dump_database(conn: sqlite3.Connection, name: str, opts: DumpOptions) -> Iterator[str]:
    if opts.databases_mode:
        if opts.comments:
            yield f"\n--\n-- Current Database: `{name}`\n--\n\n"
        if opts.add_drop_database:
            yield f"/*!40000 DROP DATABASE IF EXISTS `{name}`*/;\n\n"
        yield f"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{name}` /*!40100 DEFAULT CHARACTER SET utf8 */;\n\n"
        yield f"USE `{name}`;\n"
    tables = schema.table_names(conn)
    if opts.tables is not None:
        tables = [t for t in opts.tables if t in tables]
    for table_name in tables:
        table = schema.introspect(conn, table_name)
        cols = ", ".join(schema.q(c.name) for c in table.columns)
        rows = conn.execute(f"SELECT {cols} FROM {schema.q(table_name)}"
                            + (f" ORDER BY {', '.join(schema.q(c) for c in table.primary_key)}"
                               if table.primary_key else "")).fetchall()
        if not opts.no_create_info:
            auto = None
            if len(table.primary_key) == 1 and (table.column(table.primary_key[0]) or Column("", "")).type \
                    == "INTEGER" and rows:
                auto = max(int(r[[c.name for c in table.columns].index(table.primary_key[0])] or 0)
                           for r in rows) + 1
            if opts.comments:
                yield f"\n--\n-- Table structure for table `{table_name}`\n--\n\n"
            if opts.add_drop_table:
                yield f"DROP TABLE IF EXISTS `{table_name}`;\n"
            yield ("/*!40101 SET @saved_cs_client     = @@character_set_client */;\n"
                   "/*!40101 SET character_set_client = utf8 */;\n"
                   f"{mysql_create(table, auto)};\n"
                   "/*!40101 SET character_set_client = @saved_cs_client */;\n")
        if opts.no_data:
            continue
        if opts.comments:
            yield f"\n--\n-- Dumping data for table `{table_name}`\n--\n\n"
        if opts.add_locks:
            yield f"LOCK TABLES `{table_name}` WRITE;\n"
        yield f"/*!40000 ALTER TABLE `{table_name}` DISABLE KEYS */;\n"
        yield from _inserts(table_name, rows, opts.extended_insert)
        yield f"/*!40000 ALTER TABLE `{table_name}` ENABLE KEYS */;\n"
        if opts.add_locks:
            yield "UNLOCK TABLES;\n"


def _inserts(table: str, rows: list[tuple[Any, ...]], extended: bool) -> Iterator[str]:
    if not rows:
        return
    head = f"INSERT INTO `{table}` VALUES "
    if not extended:
        for row in rows:
            yield head + "(" + ",".join(mysql_value(v) for v in row) + ");\n"
        return
    parts: list[str] = []
    size = len(head)
    for row in rows:
        text = "(" + ",".join(mysql_value(v) for v in row) + ")"
        if parts and size + len(text) > MAX_INSERT:
            yield head + ",".join(parts) + ";\n"
            parts, size = [], len(head)
        parts.append(text)
        size += len(text) + 1
    yield head + ",".join(parts) + ";\n"
