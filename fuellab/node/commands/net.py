"""ip and ss as iproute2 3.12 (Ubuntu 14.04) prints them.

`ip` lists the devices of fuellab.node.links and changes a NIC's admin state
(`ip link set eth2 down` cuts the node's wire: fuellab.network derives the
segments from it). `ss` lists the listening sockets of the running jobs
(fuellab.node.daemons.sockets).
"""

from __future__ import annotations

import ipaddress
import re

from fuellab.node import daemons
from fuellab.node.commands import command
from fuellab.node.context import CommandError, Context
from fuellab.node.links import Addr, Link, default_route, links

OBJECTS = {"link": ("l", "li", "lin", "link"), "address": ("a", "ad", "add", "addr", "addre", "addres",
                                                           "address"),
           "route": ("r", "ro", "rou", "rout", "route"), "netns": ("netns",)}


def _object(word: str) -> str | None:
    return next((name for name, abbrevs in OBJECTS.items() if word in abbrevs), None)


def _head(link: Link, addr_view: bool) -> str:
    master = f" master {link.master}" if link.master else ""
    mode = "" if addr_view else " mode DEFAULT"
    qlen = " qlen 1000" if link.kind == "ether" else " "  # iproute2 leaves the space after "group X"
    return (f"{link.index}: {link.name}: <{','.join(link.flags)}> mtu {link.mtu} qdisc {link.qdisc}"
            f"{master} state {link.state}{mode} group default{qlen}")


def _ether(link: Link) -> str:
    if link.kind == "loopback":
        return "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00"
    return f"    link/ether {link.mac} brd ff:ff:ff:ff:ff:ff"


def _addr_lines(addr: Addr) -> list[str]:
    brd = f" brd {addr.brd}" if addr.brd else ""
    secondary = " secondary" if addr.secondary else ""
    label = f" {addr.label}" if addr.label else ""
    return [f"    {addr.family} {addr.address}/{addr.prefix}{brd} scope {addr.scope}{secondary}{label}",
            "       valid_lft forever preferred_lft forever"]


def _emit(ctx: Context, blocks: list[list[str]], oneline: bool) -> None:
    for block in blocks:
        if oneline:
            ctx.out("\\".join(block) + "\n")
        else:
            ctx.out("".join(line + "\n" for line in block))


def _select(ctx: Context, args: list[str]) -> list[Link]:
    all_links = links(ctx.world, ctx.node)
    args = [a for a in args if a not in ("show", "list", "ls", "lst", "sh")]
    if args[:1] == ["dev"]:
        args = args[1:]
    if args and args[0] == "up":
        return [link for link in all_links if link.up]
    if args:
        found = [link for link in all_links if link.name == args[0]]
        if not found:
            raise CommandError(f'Device "{args[0]}" does not exist.')
        return found
    return all_links


def _link(ctx: Context, args: list[str], oneline: bool, family: str | None) -> int:
    if args[:1] == ["set"]:
        return _link_set(ctx, args[1:])
    blocks = [[_head(link, False), _ether(link)] for link in _select(ctx, args)]
    _emit(ctx, blocks, oneline)
    return 0


def _link_set(ctx: Context, args: list[str]) -> int:
    if args[:1] == ["dev"]:
        args = args[1:]
    if not args:
        raise CommandError('Not enough information: "dev" argument is required.', 255)
    name, settings = args[0], args[1:]
    nic = ctx.node.interface(name)
    if nic is None:
        if any(link.name == name for link in links(ctx.world, ctx.node)):
            raise CommandError(f"ip: the lab models the link state of NICs only, not of {name}", 2)
        raise CommandError(f'Cannot find device "{name}"')
    for word in settings:
        if word not in ("up", "down"):
            raise CommandError(f"ip: the lab models `ip link set DEV up|down` only, not \"{word}\"", 2)
    for word in settings:
        nic.up = word == "up"
    ctx.world.changed()
    return 0


def _addr(ctx: Context, args: list[str], oneline: bool, family: str | None) -> int:
    if args[:1] in (["add"], ["del"], ["delete"], ["flush"], ["change"], ["replace"]):
        raise CommandError(f"ip: the lab does not model `ip addr {args[0]}`: addresses follow the "
                           "node's network scheme", 2)
    blocks = []
    for link in _select(ctx, args):
        addrs = [a for a in link.addrs if family in (None, a.family)]
        if oneline:
            for a in addrs:
                lines = _addr_lines(a)
                blocks.append([f"{link.index}: {link.name}    {lines[0].strip()}", lines[1]])
            continue
        if family is not None and not addrs:
            continue
        block = [_head(link, True)]
        if family is None:
            block.append(_ether(link))
        for a in addrs:
            block += _addr_lines(a)
        blocks.append(block)
    _emit(ctx, blocks, oneline)
    return 0


def _route(ctx: Context, args: list[str], oneline: bool, family: str | None) -> int:
    if args and args[0] not in ("show", "list", "ls"):
        raise CommandError(f"ip: the lab does not model `ip route {args[0]}`", 2)
    if family == "inet6":
        return 0
    gateway = default_route(ctx.world, ctx.node)
    if gateway:
        ctx.out(f"default via {gateway[0]} dev {gateway[1]} \n")
    for link in links(ctx.world, ctx.node):
        if link.kind == "loopback" or not (link.up and link.carrier):
            continue
        for a in link.addrs:
            if a.family != "inet" or a.secondary:
                continue
            net = ipaddress.ip_network(f"{a.address}/{a.prefix}", strict=False)
            ctx.out(f"{net} dev {link.name}  proto kernel  scope link  src {a.address} \n")
    return 0


@command("ip")
async def ip(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    oneline = False
    family: str | None = None
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-o", "-oneline", "--oneline"):
            oneline = True
        elif opt in ("-4",):
            family = "inet"
        elif opt in ("-6",):
            family = "inet6"
        elif opt in ("-f", "-family", "--family"):
            if not args:
                raise CommandError('Error: argument "-f" is required', 255)
            family = {"inet": "inet", "inet6": "inet6", "4": "inet", "6": "inet6"}.get(args.pop(0))
        elif opt in ("-s", "-stats", "-d", "-details", "-r", "-resolve"):
            continue
        else:
            raise CommandError(f'Option "{opt}" is unknown, try "ip -help".', 255)
    if not args:
        raise CommandError("Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }", 255)
    obj = _object(args[0])
    if obj == "link":
        return _link(ctx, args[1:], oneline, family)
    if obj == "address":
        return _addr(ctx, args[1:], oneline, family)
    if obj == "route":
        return _route(ctx, args[1:], oneline, family)
    if obj == "netns":
        return 0  # the lab's nodes have no network namespaces
    raise CommandError(f'Object "{args[0]}" is unknown, try "ip help".', 255)


# --------------------------------------------------------------------------- ss

SERVICES = {22: "ssh", 80: "http", 123: "ntp", 3306: "mysql", 4369: "epmd", 5000: "5000",
            5672: "amqp", 6789: "6789", 8000: "irdmi", 9292: "9292", 11211: "11211"}


def _port_filter(words: list[str]) -> set[int] | None:
    text = " ".join(words)
    if not text.strip():
        return None
    ports = {int(p) for p in re.findall(r"sport\s*(?:=|==|eq)\s*:(\d+)", text)}
    if not ports:
        raise CommandError(f"ss: the lab understands only `sport = :PORT` filters, not \"{text}\"", 2)
    return ports


@command("ss")
async def ss(ctx: Context, argv: list[str]) -> int:
    flags: set[str] = set()
    words = []
    longs = {"--numeric": "n", "--listening": "l", "--tcp": "t", "--udp": "u", "--all": "a",
             "--processes": "p", "--ipv4": "4", "--ipv6": "6", "--unix": "x", "--resolve": "r",
             "--extended": "e", "--memory": "m", "--info": "i"}
    for arg in argv[1:]:
        if arg.startswith("--"):
            if arg not in longs:
                raise CommandError(f"ss: unrecognized option '{arg}'\nUsage: ss [ OPTIONS ]", 255)
            flags.add(longs[arg])
        elif arg.startswith("-") and len(arg) > 1:
            for c in arg[1:]:
                if c not in "nltuapx46rwemi":
                    raise CommandError(f"ss: invalid option -- '{c}'\nUsage: ss [ OPTIONS ]", 255)
                flags.add(c)
        else:
            words.append(arg)
    ports = _port_filter(words)
    protos = [p for p, f in (("tcp", "t"), ("udp", "u")) if f in flags] or (
        [] if "x" in flags or "w" in flags else ["tcp"])
    listening = "l" in flags or "a" in flags
    socks = [s for s in daemons.sockets(ctx.lab, ctx.node) if s.proto in protos] if listening else []
    if "4" in flags:
        socks = [s for s in socks if ":" not in s.address]
    if "6" in flags:
        socks = [s for s in socks if ":" in s.address]
    if ports is not None:
        socks = [s for s in socks if s.port in ports]
    netid = len(protos) != 1
    head = ("Netid  " if netid else "") + "State      Recv-Q Send-Q"
    ctx.out(f"{head}        Local Address:Port          Peer Address:Port \n")
    for s in socks:
        port = str(s.port) if "n" in flags else SERVICES.get(s.port, str(s.port))
        local = f"{s.address:>21}:{port:<5}"
        peer = "*:*" if ":" not in s.address else ":::*"
        state = "LISTEN" if s.proto == "tcp" else "UNCONN"
        backlog = "128" if s.proto == "tcp" else "0"
        line = (f"{s.proto:<6} " if netid else "") + f"{state:<10} 0      {backlog:<6} {local} {peer:>22}     "
        if "p" in flags:
            line += f"users:((\"{s.process.comm}\",{s.process.pid},{3 + s.port % 7}))"
        ctx.out(line.rstrip() + " \n" if "p" in flags else line + "\n")
    return 0
