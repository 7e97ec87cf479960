"""ovs-vsctl (Open vSwitch 2.3) over the node's bridges and ports (`Node.ovs`).

Commands separated by `--` form one transaction: they run on a copy of the
node's OVS configuration, which replaces the node's only if every command
succeeded. fuellab.network derives the L2 segments from the result, so
deleting the patch between br-mgmt and br-eth2 takes the node's management
address off the wire, and a GRE port whose far end points back joins two
nodes' bridges. Each bridge also has its own internal port, implicit here.
"""

from __future__ import annotations

import copy
import inspect
import re
import uuid

from fuellab import services
from fuellab.node.commands import command
from fuellab.node.context import CommandError, Context
from fuellab.world import Port

OVS_VERSION = "2.3.1"
Config = dict[str, list[Port]]
COMMAND_OPTIONS = ("--may-exist", "--if-exists", "--all", "--with-iface", "--fake-iface")
GLOBAL_VALUE_OPTIONS = ("-t", "--timeout", "--db", "--format", "-f", "--columns", "-d", "--data")
GLOBAL_FLAGS = ("--no-wait", "--oneline", "--dry-run", "--no-syslog", "-v", "--verbose", "--retry")


def quote(value: str) -> str:
    """ovsdb's rule: bare when it is an identifier-like word, else a JSON-style string."""
    bare = re.fullmatch(r"[A-Za-z_][A-Za-z_.\-]*", value) is not None
    if not bare or value in ("true", "false"):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _type_of(port: Port) -> str:
    return "" if port.type == "system" else port.type


class Vsctl:
    def __init__(self, ctx: Context, config: Config) -> None:
        self.ctx = ctx
        self.config = config

    def fail(self, message: str, status: int = 1) -> CommandError:
        return CommandError(f"ovs-vsctl: {message}", status)

    # ------------------------------------------------------------------ lookups

    def bridge(self, name: str) -> list[Port]:
        if name not in self.config:
            raise self.fail(f"no bridge named {name}")
        return self.config[name]

    def port_bridge(self, name: str) -> str | None:
        for bridge, ports in self.config.items():
            if any(p.name == name for p in ports):
                return bridge
        return None

    def find_port(self, name: str) -> Port:
        for ports in self.config.values():
            for port in ports:
                if port.name == name:
                    return port
        raise self.fail(f"no row \"{name}\" in table Interface")

    # ------------------------------------------------------------------ commands

    def run(self, opts: set[str], name: str, args: list[str]) -> int:
        handler = getattr(self, "cmd_" + name.replace("-", "_"), None)
        if handler is None:
            raise self.fail(f"unknown command '{name}'; use --help for help")
        try:
            inspect.signature(handler).bind(opts, *args)
        except TypeError as exc:
            raise self.fail(f"'{name}' command takes other arguments (use --help for help)") from exc
        return handler(opts, *args) or 0

    def cmd_show(self, opts: set[str]) -> None:
        out = [str(uuid.uuid5(uuid.NAMESPACE_DNS, f"ovs.{self.ctx.node.hostname}"))]
        for bridge in self.config:
            out.append(f"    Bridge {quote(bridge)}")
            ports = sorted([Port(bridge, "internal"), *self.config[bridge]], key=lambda p: p.name)
            for port in ports:
                out.append(f"        Port {quote(port.name)}")
                if port.tag is not None:
                    out.append(f"            tag: {port.tag}")
                out.append(f"            Interface {quote(port.name)}")
                if _type_of(port):
                    out.append(f"                type: {port.type}")
                if port.options:
                    opts_text = ", ".join(f"{k}={quote(v)}" for k, v in sorted(port.options.items()))
                    out.append(f"                options: {{{opts_text}}}")
        out.append(f'    ovs_version: "{OVS_VERSION}"')
        self.ctx.out("\n".join(out) + "\n")

    def cmd_list_br(self, opts: set[str]) -> None:
        for bridge in sorted(self.config):
            self.ctx.out(bridge + "\n")

    def cmd_br_exists(self, opts: set[str], bridge: str) -> int:
        return 0 if bridge in self.config else 2

    def cmd_list_ports(self, opts: set[str], bridge: str) -> None:
        for port in sorted(p.name for p in self.bridge(bridge)):
            self.ctx.out(port + "\n")

    cmd_list_ifaces = cmd_list_ports

    def cmd_port_to_br(self, opts: set[str], port: str) -> None:
        bridge = self.port_bridge(port) or (port if port in self.config else None)
        if bridge is None:
            raise self.fail(f"no port named {port}")
        self.ctx.out(bridge + "\n")

    def cmd_iface_to_br(self, opts: set[str], iface: str) -> None:
        bridge = self.port_bridge(iface) or (iface if iface in self.config else None)
        if bridge is None:
            raise self.fail(f"no interface named {iface}")
        self.ctx.out(bridge + "\n")

    def cmd_add_br(self, opts: set[str], bridge: str, *rest: str) -> None:
        if rest:
            raise self.fail("the lab does not model fake bridges (add-br BRIDGE PARENT VLAN)")
        if bridge in self.config:
            if "--may-exist" in opts:
                return
            raise self.fail(f"cannot create a bridge named {bridge} because a bridge named {bridge} "
                            "already exists")
        if self.port_bridge(bridge):
            raise self.fail(f"cannot create a bridge named {bridge} because a port named {bridge} "
                            "already exists")
        self.config[bridge] = []

    def cmd_del_br(self, opts: set[str], bridge: str) -> None:
        if bridge not in self.config:
            if "--if-exists" in opts:
                return
            raise self.fail(f"no bridge named {bridge}")
        del self.config[bridge]

    def cmd_add_port(self, opts: set[str], bridge: str, port: str, *settings: str) -> None:
        ports = self.bridge(bridge)
        owner = self.port_bridge(port)
        if owner is not None or port in self.config:
            if "--may-exist" in opts and owner == bridge:
                return
            where = owner or port
            raise self.fail(f"cannot create a port named {port} because a port named {port} already "
                            f"exists on bridge {where}")
        new = Port(port, "system")
        ports.append(new)
        for setting in settings:
            self._set_column("Port", new, setting)

    def cmd_del_port(self, opts: set[str], first: str, second: str | None = None) -> None:
        args = [first] if second is None else [first, second]
        port = args[-1]
        owner = self.port_bridge(port)
        if owner is None:
            if "--if-exists" in opts:
                return
            raise self.fail(f"no port named {port}")
        if len(args) == 2:
            if args[0] not in self.config:
                raise self.fail(f"no bridge named {args[0]}")
            if owner != args[0]:
                raise self.fail(f"bridge {args[0]} does not have a port {port}")
        self.config[owner] = [p for p in self.config[owner] if p.name != port]

    def _set_column(self, table: str, port: Port, setting: str) -> None:
        column, eq, value = setting.partition("=")
        if not eq:
            raise self.fail(f"{setting}: argument does not end in \"=\" followed by a value.")
        column, _, key = column.partition(":")
        value = value.strip('"')
        if table.lower() == "interface" and column == "type":
            port.type = value or "system"
        elif table.lower() == "interface" and column == "options" and key:
            port.options[key] = value
        elif table.lower() == "interface" and column == "options":
            port.options = dict(
                (k.strip(), v.strip().strip('"'))
                for k, v in (item.split("=", 1) for item in value.strip("{}").split(",") if "=" in item)
            )
        elif table.lower() == "port" and column == "tag":
            port.tag = int(value) if value not in ("", "[]") else None
        else:
            raise self.fail(f"the lab models only Interface type/options and Port tag, not "
                            f"{table} {column}")

    def cmd_set(self, opts: set[str], table: str, record: str, *settings: str) -> None:
        if table.lower() not in ("interface", "port"):
            raise self.fail(f"the lab models only the Interface and Port tables, not {table}")
        port = self.find_port(record)
        for setting in settings:
            self._set_column(table, port, setting)

    def cmd_clear(self, opts: set[str], table: str, record: str, *columns: str) -> None:
        port = self.find_port(record)
        for column in columns:
            if column == "options":
                port.options = {}
            elif column == "tag":
                port.tag = None
            else:
                raise self.fail(f"the lab cannot clear {table} {column}")

    def cmd_get(self, opts: set[str], table: str, record: str, *columns: str) -> None:
        if table.lower() == "bridge":
            self.bridge(record)
            raise self.fail("the lab models no columns of table Bridge")
        port = self.find_port(record)
        for spec in columns:
            column, _, key = spec.partition(":")
            if column == "type" and table.lower() == "interface":
                value = quote(_type_of(port)) if _type_of(port) else '""'
            elif column == "options" and key:
                if key not in port.options:
                    if "--if-exists" in opts:
                        continue
                    raise self.fail(f"no key \"{key}\" in Interface record \"{record}\" column options")
                value = quote(port.options[key])
            elif column == "options":
                value = "{" + ", ".join(f"{k}={quote(v)}" for k, v in sorted(port.options.items())) + "}"
            elif column == "tag" and table.lower() == "port":
                value = str(port.tag) if port.tag is not None else "[]"
            elif column == "name":
                value = quote(port.name)
            else:
                raise self.fail(f"the lab models only Interface type/options and Port tag, not {column}")
            self.ctx.out(value + "\n")


def _split_commands(args: list[str]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for arg in args:
        if arg == "--":
            groups.append([])
        else:
            groups[-1].append(arg)
    return [g for g in groups if g]


@command("ovs-vsctl")
async def ovs_vsctl(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    if args[:1] in (["--version"], ["-V"]):
        ctx.out(f"ovs-vsctl (Open vSwitch) {OVS_VERSION}\nCompiled Apr 10 2015 10:00:00\nDB Schema 7.6.2\n")
        return 0
    if not services.is_running(ctx.world, ctx.node, "openvswitch-switch"):
        raise CommandError("ovs-vsctl: unix:/var/run/openvswitch/db.sock: database connection failed "
                           "(No such file or directory)")
    vsctl = Vsctl(ctx, copy.deepcopy(ctx.node.ovs))
    while args and args[0].startswith("-") and args[0] != "--":
        opt = args.pop(0)  # global options: none changes what the lab does
        name = opt.split("=", 1)[0]
        if name in COMMAND_OPTIONS:
            args.insert(0, opt)
            break
        if name in GLOBAL_VALUE_OPTIONS and "=" not in opt and args:
            args.pop(0)
        elif name not in GLOBAL_VALUE_OPTIONS + GLOBAL_FLAGS:
            raise CommandError(f"ovs-vsctl: unrecognized option '{opt}'")
    groups = _split_commands(args)
    if not groups:
        raise CommandError("ovs-vsctl: missing command name (use --help for help)")
    status = 0
    for group in groups:
        opts: set[str] = set()
        while group and group[0].startswith("-"):
            opt = group.pop(0)
            if opt not in COMMAND_OPTIONS:
                raise CommandError(f"ovs-vsctl: '{group[0] if group else opt}' command has no "
                                   f"'{opt}' option")
            opts.add(opt)
        if not group:
            raise CommandError("ovs-vsctl: missing command name (use --help for help)")
        status = vsctl.run(opts, group[0], group[1:]) or status
    if vsctl.config != ctx.node.ovs:
        ctx.node.ovs = vsctl.config
        ctx.world.changed()
    return status
