"""The HAProxy of a controller: the configuration it loaded and what it does with a request.

A real HAProxy reads `/etc/haproxy/haproxy.cfg` (and, in Fuel's build, the
files its `include conf.d/*.cfg` line names) when it starts, and keeps that
configuration until it is restarted. The lab does the same: the process of a
node loads the files from the node's filesystem the first time the lab sees it
running, again after the node boots and after `crm resource restart p_haproxy`
(`Cluster.pacemaker["restarts"]["clone_p_haproxy"]`). The loaded text lives in
`world.meta["haproxy"][<node id>]`, so it survives `fuellab down` / `up` and
snapshots like the rest of the world. An edit without a restart changes
nothing; a configuration HAProxy would refuse (a `use_backend` naming no
backend, an unknown ACL) keeps the process from starting: its ports refuse.

What the model understands, per `frontend` / `listen` (and `backend`):

- `bind ADDR:PORT[,ADDR:PORT...]` (`*`, empty or `0.0.0.0` for any address);
- `server NAME ADDR:PORT [... disabled]` (a `listen`'s own servers are its default backend);
- `acl NAME CRITERION [-i] VALUE...` with criteria `method`, `path`, `path_beg`,
  `path_end`, `path_sub`, `path_reg`, `url`, `url_beg`, `always_true`, `always_false`;
  predefined ACLs TRUE, FALSE, HTTP, HTTP_1.0, HTTP_1.1, METH_GET (GET and HEAD),
  METH_HEAD, METH_POST, METH_PUT, METH_DELETE, METH_OPTIONS, METH_CONNECT, METH_TRACE;
- conditions `if|unless` ACL names, `!NAME`, anonymous `{ CRITERION VALUE... }`,
  joined by spaces (and) and `or` / `||`;
- `http-request deny [deny_status CODE] [if|unless COND]` (HAProxy's default status
  is 403), `http-request allow [...]`, `block [if|unless COND]` (403);
- `use_backend NAME [if|unless COND]`, `default_backend NAME`, `disabled`.

Maintenance as the original tooling wrote it: `backend maintenance` (no servers)
in haproxy.cfg and `use_backend maintenance if TRUE` in every API frontend ->
every request 503. Read-only: `use_backend maintenance if !METH_GET` (valid on
HAProxy 1.5) or `http-request deny deny_status 503 if !METH_GET` -> GET and
HEAD pass, other methods 503. A plain `http-request deny if !METH_GET` answers
403, as HAProxy does.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fuellab import pacemaker, services
from fuellab.node.context import node_path

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Node

log = logging.getLogger("fuellab.haproxy")

MAIN_CONFIG = "/etc/haproxy/haproxy.cfg"
RESOURCE = "clone_p_haproxy"
JOB = "haproxy"

ERROR_PAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "Your browser sent an invalid request."),
    403: ("Forbidden", "Request forbidden by administrative rules."),
    408: ("Request Time-out", "Your browser didn't send a complete request in time."),
    500: ("Server Error", "An internal server error occured."),
    502: ("Bad Gateway", "The server returned an invalid or incomplete response."),
    503: ("Service Unavailable", "No server is available to handle this request."),
    504: ("Gateway Time-out", "The server didn't respond in time."),
}


def error_page(status: int) -> str:
    """The body HAProxy sends with one of its own error answers."""
    title, text = ERROR_PAGES.get(status, ("Error", "An error occured."))
    return f"<html><body><h1>{status} {title}</h1>\n{text}\n</body></html>\n"


class ConfigError(Exception):
    """A configuration HAProxy refuses to start with; the message is its alert."""


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Bind:
    host: str  # "" for any address
    port: int

    def covers(self, address: str, port: int) -> bool:
        return self.port == port and self.host in ("", address)


@dataclass(frozen=True)
class Server:
    name: str
    host: str
    port: int | None
    disabled: bool = False


@dataclass(frozen=True)
class Acl:
    criterion: str
    values: tuple[str, ...]
    icase: bool = False

    def matches(self, method: str, path: str, url: str) -> bool:
        crit = self.criterion
        if crit == "always_true":
            return True
        if crit == "always_false":
            return False
        subject = {"method": method, "path": path, "path_beg": path, "path_end": path,
                   "path_sub": path, "path_reg": path, "url": url, "url_beg": url}[crit]
        values = self.values
        if self.icase:
            subject = subject.lower()
            values = tuple(v.lower() for v in values)
        if crit in ("method", "path", "url"):
            return subject in values
        if crit in ("path_beg", "url_beg"):
            return any(subject.startswith(v) for v in values)
        if crit == "path_end":
            return any(subject.endswith(v) for v in values)
        if crit == "path_sub":
            return any(v in subject for v in values)
        return any(re.search(v, subject, re.I if self.icase else 0) for v in values)


CRITERIA = ("method", "path", "path_beg", "path_end", "path_sub", "path_reg", "url", "url_beg",
            "always_true", "always_false")

PREDEFINED: dict[str, Acl] = {
    "TRUE": Acl("always_true", ()),
    "FALSE": Acl("always_false", ()),
    "HTTP": Acl("always_true", ()),
    "HTTP_1.0": Acl("always_false", ()),
    "HTTP_1.1": Acl("always_true", ()),
    "METH_GET": Acl("method", ("GET", "HEAD")),
    "METH_HEAD": Acl("method", ("HEAD",)),
    "METH_POST": Acl("method", ("POST",)),
    "METH_PUT": Acl("method", ("PUT",)),
    "METH_DELETE": Acl("method", ("DELETE",)),
    "METH_OPTIONS": Acl("method", ("OPTIONS",)),
    "METH_CONNECT": Acl("method", ("CONNECT",)),
    "METH_TRACE": Acl("method", ("TRACE",)),
}

Term = tuple[bool, "str | Acl"]  # (negated, ACL name or anonymous ACL)


@dataclass(frozen=True)
class Condition:
    unless: bool
    groups: tuple[tuple[Term, ...], ...]  # OR of ANDs


@dataclass(frozen=True)
class Rule:
    action: str  # deny | allow | use_backend
    arg: str | int | None  # deny status or backend name
    cond: Condition | None
    where: str  # file:line, for alerts


@dataclass
class Proxy:
    kind: str  # frontend | backend | listen
    name: str
    where: str
    binds: list[Bind] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    acls: dict[str, list[Acl]] = field(default_factory=dict)
    http_rules: list[Rule] = field(default_factory=list)
    backend_rules: list[Rule] = field(default_factory=list)
    default_backend: str | None = None
    disabled: bool = False

    @property
    def accepts(self) -> bool:
        return self.kind in ("frontend", "listen")

    @property
    def serves(self) -> bool:
        return self.kind in ("backend", "listen")


@dataclass
class Config:
    proxies: list[Proxy]

    def frontend_for(self, address: str, port: int) -> Proxy | None:
        for proxy in self.proxies:
            if proxy.accepts and not proxy.disabled and any(b.covers(address, port) for b in proxy.binds):
                return proxy
        return None

    def backend(self, name: str) -> Proxy | None:
        return next((p for p in self.proxies if p.serves and p.name == name), None)

    def binds(self) -> list[tuple[str, int]]:
        return [(b.host, b.port) for p in self.proxies if p.accepts and not p.disabled for b in p.binds]


@dataclass(frozen=True)
class Deny:
    """HAProxy answers by itself (a deny rule, or no server to send to)."""

    status: int


@dataclass(frozen=True)
class Forward:
    """The request goes to one of these servers of `backend`."""

    backend: str
    servers: tuple[Server, ...]


# --------------------------------------------------------------------------- parsing

SECTIONS = ("global", "defaults", "frontend", "backend", "listen", "userlist", "peers", "resolvers",
            "mailers", "cache", "program")


def _tokens(line: str) -> list[str]:
    """Split a configuration line like HAProxy: spaces separate words, `#` starts a comment,
    backslash escapes, quotes group."""
    out: list[str] = []
    word: list[str] = []
    quote = ""
    started = False
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and i + 1 < len(line):
                i += 1
                word.append(line[i])
            else:
                word.append(ch)
        elif ch in "\"'":
            quote, started = ch, True
        elif ch == "\\" and i + 1 < len(line):
            i += 1
            word.append(line[i])
            started = True
        elif ch == "#":
            break
        elif ch.isspace():
            if started:
                out.append("".join(word))
                word, started = [], False
        else:
            word.append(ch)
            started = True
        i += 1
    if started:
        out.append("".join(word))
    return out


def _address(text: str, where: str, port_needed: bool) -> tuple[str, int | None]:
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, ""
    if host in ("*", "0.0.0.0", "::"):
        host = ""
    if port == "":
        if port_needed:
            raise ConfigError(f"parsing [{where}] : missing port number: '{text}'")
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"parsing [{where}] : invalid port '{port}' in '{text}'")
    return host, int(port)


def _condition(words: list[str], where: str) -> Condition | None:
    if not words:
        return None
    if words[0] not in ("if", "unless"):
        raise ConfigError(f"parsing [{where}] : expects 'if' or 'unless' followed by a condition "
                          f"but found '{words[0]}'")
    unless = words[0] == "unless"
    rest = words[1:]
    if not rest:
        raise ConfigError(f"parsing [{where}] : no condition after '{words[0]}'")
    groups: list[tuple[Term, ...]] = []
    current: list[Term] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in ("or", "||"):
            if not current:
                raise ConfigError(f"parsing [{where}] : missing ACL before '{word}'")
            groups.append(tuple(current))
            current = []
            i += 1
            continue
        negated = False
        if word.startswith("!"):
            negated, word = True, word[1:]
            if not word:
                i += 1
                word = rest[i] if i < len(rest) else ""
        if word == "{" or word.startswith("{"):
            body: list[str] = [word[1:]] if word != "{" and word[1:] else []
            i += 1
            while i < len(rest) and rest[i] != "}":
                body.append(rest[i])
                i += 1
            if i >= len(rest):
                raise ConfigError(f"parsing [{where}] : missing closing '}}' in condition")
            current.append((negated, _acl(body, where)))
        else:
            current.append((negated, word))
        i += 1
    if not current:
        raise ConfigError(f"parsing [{where}] : condition ends with an operator")
    groups.append(tuple(current))
    return Condition(unless, tuple(groups))


def _acl(words: list[str], where: str) -> Acl:
    if not words:
        raise ConfigError(f"parsing [{where}] : missing ACL criterion")
    crit, rest = words[0], words[1:]
    if crit not in CRITERIA:
        raise ConfigError(f"parsing [{where}] : unknown fetch method '{crit}' in ACL expression '{crit}'")
    icase = False
    values: list[str] = []
    flags_done = False
    i = 0
    while i < len(rest):
        word = rest[i]
        if not flags_done and word.startswith("-"):
            if word == "--":
                flags_done = True
            elif word == "-i":
                icase = True
            elif word in ("-m", "-u") and i + 1 < len(rest):
                i += 1  # a match method (the criterion's own is what the lab applies) or an id
            elif word == "-n":
                pass
            else:
                raise ConfigError(f"parsing [{where}] : '{word}' is not a supported ACL flag")
        else:
            flags_done = True
            values.append(word)
        i += 1
    if crit not in ("always_true", "always_false") and not values:
        raise ConfigError(f"parsing [{where}] : ACL '{crit}' needs at least one value")
    return Acl(crit, tuple(values), icase)


def parse(files: list[tuple[str, str]]) -> Config:
    """Parse the configuration, given as (path, text) pairs in reading order."""
    proxies: list[Proxy] = []
    current: Proxy | None = None
    for path, text in files:
        for lineno, raw in enumerate(text.splitlines(), start=1):
            words = _tokens(raw)
            if not words:
                continue
            where = f"{path}:{lineno}"
            key = words[0]
            if key in SECTIONS:
                current = None
                if key in ("frontend", "backend", "listen"):
                    if len(words) < 2:
                        raise ConfigError(f"parsing [{where}] : '{key}' needs an <id> argument")
                    name = words[1]
                    current = Proxy(key, name, where)
                    # A frontend and a backend may share a name; two of one capability may not.
                    clash = next((p for p in proxies if p.name == name and (
                        (p.accepts and current.accepts) or (p.serves and current.serves))), None)
                    if clash is not None:
                        raise ConfigError(f"Parsing [{where}]: {key} '{name}' has the same name as "
                                          f"{clash.kind} '{name}' declared at {clash.where}.")
                    proxies.append(current)
                    for spec in words[2:3] if key != "backend" else ():
                        # `listen NAME ADDR:PORT`: the bind in the section line (HAProxy 1.5 syntax)
                        current.binds += _binds(spec, where)
                continue
            if current is None:
                continue  # global, defaults and the others configure nothing the model uses
            _proxy_keyword(current, words, where)
    _check(proxies)
    return Config(proxies)


def _binds(spec: str, where: str) -> list[Bind]:
    out = []
    for part in spec.split(","):
        host, port = _address(part, where, port_needed=True)
        out.append(Bind(host, int(port or 0)))
    return out


def _proxy_keyword(proxy: Proxy, words: list[str], where: str) -> None:
    key, args = words[0], words[1:]
    if key == "bind":
        if not proxy.accepts:
            raise ConfigError(f"parsing [{where}] : 'bind' not allowed in 'backend' section")
        if not args:
            raise ConfigError(f"parsing [{where}] : 'bind' expects <addr:port> as argument")
        proxy.binds += _binds(args[0], where)
    elif key == "server":
        if not proxy.serves:
            raise ConfigError(f"parsing [{where}] : 'server' not allowed in 'frontend' section")
        if len(args) < 2:
            raise ConfigError(f"parsing [{where}] : 'server' expects <name> and <addr>[:<port>] as arguments")
        host, port = _address(args[1], where, port_needed=False)
        proxy.servers.append(Server(args[0], host, port, "disabled" in args[2:]))
    elif key == "acl":
        if len(args) < 2:
            raise ConfigError(f"parsing [{where}] : 'acl' expects a name and a criterion")
        name = args[0]
        proxy.acls.setdefault(name, []).append(_acl(args[1:], where))
    elif key == "http-request":
        if not args:
            raise ConfigError(f"parsing [{where}] : 'http-request' expects an action")
        action, rest = args[0], args[1:]
        if action in ("deny", "tarpit"):
            status = 403 if action == "deny" else 500
            if rest[:1] == ["deny_status"]:
                if len(rest) < 2 or not rest[1].isdigit():
                    raise ConfigError(f"parsing [{where}] : 'deny_status' expects a status code")
                status = int(rest[1])
                rest = rest[2:]
            proxy.http_rules.append(Rule("deny", status, _condition(rest, where), where))
        elif action == "allow":
            proxy.http_rules.append(Rule("allow", None, _condition(rest, where), where))
        # other actions (add-header, set-header, redirect...) change nothing the lab models
    elif key == "block":
        proxy.http_rules.append(Rule("deny", 403, _condition(args, where), where))
    elif key == "use_backend":
        if not proxy.accepts:
            raise ConfigError(f"parsing [{where}] : 'use_backend' not allowed in 'backend' section")
        if not args:
            raise ConfigError(f"parsing [{where}] : 'use_backend' expects a backend name")
        proxy.backend_rules.append(Rule("use_backend", args[0], _condition(args[1:], where), where))
    elif key == "default_backend":
        if not args:
            raise ConfigError(f"parsing [{where}] : 'default_backend' expects a backend name")
        proxy.default_backend = args[0]
    elif key == "disabled":
        proxy.disabled = True


def _check(proxies: list[Proxy]) -> None:
    """What HAProxy checks after parsing: backends and ACLs that rules name exist."""
    backends = {p.name for p in proxies if p.serves}
    for proxy in proxies:
        names = [r.arg for r in proxy.backend_rules] + (
            [proxy.default_backend] if proxy.default_backend else [])
        for name in names:
            if str(name) not in backends:
                raise ConfigError(f"Proxy '{proxy.name}': unable to find required use_backend: '{name}'.")
        for rule in proxy.http_rules + proxy.backend_rules:
            for group in rule.cond.groups if rule.cond else ():
                for _, ref in group:
                    if isinstance(ref, str) and ref not in proxy.acls and ref not in PREDEFINED:
                        raise ConfigError(f"parsing [{rule.where}] : error detected while parsing "
                                          f"condition : no such ACL : '{ref}'")


# --------------------------------------------------------------------------- a request


def _holds(proxy: Proxy, cond: Condition | None, method: str, path: str, url: str) -> bool:
    if cond is None:
        return True

    def term(ref: str | Acl) -> bool:
        acls = [ref] if isinstance(ref, Acl) else proxy.acls.get(ref) or [PREDEFINED[ref]]
        # Several `acl` lines with one name are ORed, as in HAProxy.
        return any(a.matches(method, path, url) for a in acls)

    result = any(all(term(ref) != negated for negated, ref in group) for group in cond.groups)
    return not result if cond.unless else result


def _http_rules(proxy: Proxy, method: str, path: str, url: str) -> Deny | None:
    for rule in proxy.http_rules:
        if _holds(proxy, rule.cond, method, path, url):
            return Deny(int(rule.arg)) if rule.action == "deny" else None  # type: ignore[arg-type]
    return None


def decide(config: Config, frontend: Proxy, method: str, path: str, url: str) -> Deny | Forward:
    """What HAProxy does with a request that reached `frontend`."""
    denied = _http_rules(frontend, method, path, url)
    if denied is not None:
        return denied
    backend: Proxy | None = None
    for rule in frontend.backend_rules:
        if _holds(frontend, rule.cond, method, path, url):
            backend = config.backend(str(rule.arg))
            break
    if backend is None and frontend.default_backend:
        backend = config.backend(frontend.default_backend)
    if backend is None and frontend.kind == "listen":
        backend = frontend
    if backend is None:
        return Deny(503)
    if backend is not frontend:
        denied = _http_rules(backend, method, path, url)
        if denied is not None:
            return denied
    servers = tuple(s for s in backend.servers if not s.disabled)
    return Forward(backend.name, servers) if servers else Deny(503)


# --------------------------------------------------------------------------- the process of a node


def read_files(lab: Lab, node: Node) -> list[tuple[str, str]]:
    """haproxy.cfg with its `include` lines' files, as the process reads them at start."""
    main = node_path(lab, node, MAIN_CONFIG)
    try:
        text = main.read_text()
    except OSError as exc:
        raise ConfigError(f"Cannot open configuration file/directory {MAIN_CONFIG} : "
                          f"{exc.strerror or 'No such file or directory'}") from None
    files = [(MAIN_CONFIG, text)]
    base = MAIN_CONFIG.rsplit("/", 1)[0]
    for raw in text.splitlines():
        words = _tokens(raw)
        if len(words) >= 2 and words[0] == "include":
            pattern = words[1] if words[1].startswith("/") else f"{base}/{words[1]}"
            folder, _, glob = pattern.rpartition("/")
            real = node_path(lab, node, folder)
            matches = sorted(real.glob(glob)) if real.is_dir() else []
            for path in matches:
                if path.is_file():
                    try:
                        files.append((f"{folder}/{path.name}", path.read_text()))
                    except OSError:
                        continue
    return files


_parsed: dict[str, Config | ConfigError] = {}


def _parse_cached(files: list[tuple[str, str]]) -> Config | ConfigError:
    digest = hashlib.sha256(repr(files).encode()).hexdigest()
    found = _parsed.get(digest)
    if found is None:
        try:
            found = parse(files)
        except ConfigError as exc:
            found = exc
        if len(_parsed) > 256:
            _parsed.clear()
        _parsed[digest] = found
    return found


def _state(lab: Lab) -> dict[str, Any]:
    return lab.world.meta.setdefault("haproxy", {})


def started_at(lab: Lab, node: Node) -> float:
    """When the node's HAProxy last had to start: its boot or pacemaker's last restart."""
    started = node.booted_at
    cluster = pacemaker.cluster_of(lab.world, node)
    if cluster is not None:
        restarted = cluster.pacemaker.get("restarts", {}).get(RESOURCE)
        if restarted is not None:
            started = max(started, float(restarted))
    return started


def running(lab: Lab, node: Node) -> Config | None:
    """The configuration the node's HAProxy runs with; None when it does not run.

    A process that cannot parse its configuration does not run."""
    world = lab.world
    key = str(node.id)
    state = _state(lab)
    if JOB not in services.running_jobs(world, node):
        if key in state:
            del state[key]
            world.changed()
        return None
    entry = state.get(key)
    if entry is None or float(entry.get("loaded_at", -1.0)) < started_at(lab, node):
        entry = _load(lab, node)
    if entry.get("error"):
        return None
    loaded = _parse_cached([(path, text) for path, text in entry["files"]])
    return loaded if isinstance(loaded, Config) else None


def _load(lab: Lab, node: Node) -> dict[str, Any]:
    world = lab.world
    try:
        files = read_files(lab, node)
        error = None
    except ConfigError as exc:
        files, error = [], str(exc)
    entry: dict[str, Any] = {"loaded_at": world.clock.now(), "files": [list(f) for f in files]}
    if error is None:
        parsed = _parse_cached(files)
        if isinstance(parsed, ConfigError):
            error = str(parsed)
    if error is not None:
        entry["error"] = error
        log.warning("haproxy on %s fails to start: %s", node.hostname, error)
    _state(lab)[str(node.id)] = entry
    world.changed()
    return entry


def error(lab: Lab, node: Node) -> str | None:
    """Why the node's HAProxy did not start, if it failed to."""
    entry = _state(lab).get(str(node.id))
    return entry.get("error") if entry else None


def refresh(lab: Lab) -> None:
    """Follow the processes: one that started (or restarted) reads its files now, one that
    stopped forgets its configuration. Called when the world changes, so that a process is
    loaded when it starts, not when it first gets a request: an edit made after the start,
    without a restart, changes nothing."""
    world = lab.world
    state = _state(lab)
    for key in list(state):
        node = world.nodes.get(int(key))
        if node is None or JOB not in services.running_jobs(world, node):
            del state[key]
            world.changed()
    for node in world.nodes.values():
        if node.online and ("controller" in node.roles or str(node.id) in state):
            running(lab, node)


def running_binds(lab: Lab, node: Node) -> list[tuple[str, int]] | None:
    """What the node's running HAProxy listens on ("" for any address); None when it does not run.

    What `ss` should show: the binds of the configuration loaded at the last start, not of the
    files as they are now."""
    config = running(lab, node)
    return None if config is None else config.binds()
