"""arping as iputils-arping s20121221 (Ubuntu 14.04) runs it: who answers ARP for an address.

An ARP request leaves the node on one device and reaches the L2 segment that
device sits on (fuellab.network: bridges joined by patch ports, GRE tunnels
and NICs on the wire). Every other live holder of the address in that
segment answers with the MAC of the device holding it (a node address or a
VIP sits on its network's bridge, the admin address on eth0; see
fuellab.node.links). So two holders of one address on a segment, an IP
conflict, show as replies from two MACs; an isolated holder does not answer
at all.

As iputils does: after the first reply further probes go unicast to that
MAC (only it answers) unless `-b` keeps broadcasting; `-D` (duplicate address
detection, source 0.0.0.0) and `-f` stop at the first reply. Exit status:
0 when a reply came (with -D: when none came), 1 otherwise, 2 on bad usage.
Probes are one lab second apart.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from fuellab import network
from fuellab.node.commands import command
from fuellab.node.commands import opts as getopt
from fuellab.node.context import CommandError, Context
from fuellab.node.links import _bridge_mac, links
from fuellab.world import Node

USAGE = ("Usage: arping [-fqbDUAV] [-c count] [-w timeout] [-I device] [-s source] destination\n"
         "  -f : quit on first reply\n  -q : be quiet\n  -b : keep broadcasting, don't go unicast\n"
         "  -D : duplicate address detection mode\n  -U : Unsolicited ARP mode, update your neighbours\n"
         "  -A : ARP answer mode, update your neighbours\n  -V : print version and exit\n"
         "  -c count : how many packets to send\n  -w timeout : how long to wait for a reply\n"
         "  -I device : which ethernet device to use (eth0)\n  -s source : source ip address\n"
         "  destination : ask for what ip address")
PROBE_INTERVAL = 1.0  # lab seconds between probes, as arping's default
REPLY_MS = 0.6  # what the lab prints as the round trip of a reply on a LAN


@dataclass(frozen=True)
class Responder:
    node_id: int
    mac: str


def _segment(ctx: Context, device: str) -> network.Vertex | None:
    """The L2 segment a frame sent on `device` reaches, None when it reaches nothing."""
    node = ctx.node
    if device in node.ovs:
        return network.segments(ctx.world).find((node.id, device))
    nic = node.interface(device)
    if nic is None or not nic.up:
        return None
    return network.wire(device)


def _mac_of(node: Node, holder: network.Holder, ctx: Context) -> str:
    if holder.network == "admin":
        nic = node.interface("eth0")
        return nic.mac if nic is not None else _bridge_mac(node, "eth0")
    net = ctx.world.networks[holder.network]
    return _bridge_mac(node, net.bridge)


def responders(ctx: Context, device: str, address: str) -> list[Responder]:
    """Every other node holding `address` on the segment `device` reaches, with its MAC; by node id."""
    segment = _segment(ctx, device)
    if segment is None:
        return []
    found: dict[int, Responder] = {}
    for holder in ctx.lab.addresses.holders().get(address, []):
        if holder.segment != segment or holder.node_id == ctx.node.id or holder.node_id in found:
            continue
        node = ctx.world.nodes[holder.node_id]
        found[holder.node_id] = Responder(node.id, _mac_of(node, holder, ctx).upper())
    return [found[i] for i in sorted(found)]


def _source(ctx: Context, device: str, given: str | None, dad: bool) -> str:
    if dad:
        return "0.0.0.0"
    if given:
        return given
    for link in links(ctx.world, ctx.node):
        if link.name == device:
            for addr in link.addrs:
                if addr.family == "inet" and not addr.secondary:
                    return addr.address
    raise CommandError("arping: no source address in not-DAD mode", 2)


def _device(ctx: Context, device: str) -> None:
    for link in links(ctx.world, ctx.node):
        if link.name == device:
            if not link.up:
                raise CommandError(f'Interface "{device}" is down', 2)
            return
    raise CommandError(f"arping: unknown iface {device}", 2)


@command("arping")
async def arping(ctx: Context, argv: list[str]) -> int:
    parsed = getopt.parse(argv, "fqbDUAVc:w:I:s:h", status=2)
    if parsed.has("-V"):
        ctx.out("arping utility, iputils-sysvinit-s20121221\n")
        return 0
    if parsed.has("-h") or len(parsed.args) != 1:
        raise CommandError(USAGE, 2)
    destination = parsed.args[0]
    try:
        ipaddress.IPv4Address(destination)
    except ValueError:
        raise CommandError(f"arping: unknown host {destination}", 2) from None
    device = parsed.value("-I", default="eth0") or "eth0"
    dad, quiet = parsed.has("-D"), parsed.has("-q")
    unsolicited = parsed.has("-U") or parsed.has("-A")
    count = _number(parsed.value("-c"), "count")
    deadline = _number(parsed.value("-w"), "timeout")
    if count is None and deadline is None:
        raise CommandError("arping: the lab runs arping with -c COUNT or -w TIMEOUT only (it would never end)", 2)
    _device(ctx, device)
    source = _source(ctx, device, parsed.value("-s"), dad)
    probes = count if count is not None else deadline
    quit_on_reply = dad or parsed.has("-f")
    keep_broadcast = parsed.has("-b") or dad or unsolicited
    if not quiet:
        ctx.out(f"ARPING {destination} from {source} {device}\n")
    sent = broadcasts = received = 0
    unicast_to: Responder | None = None
    for probe in range(int(probes or 0)):
        if probe:
            await ctx.lab.clock.sleep(PROBE_INTERVAL)
        sent += 1
        if unicast_to is None:
            broadcasts += 1
        if unsolicited:
            continue
        answering = responders(ctx, device, destination)
        if unicast_to is not None:
            answering = [r for r in answering if r.mac == unicast_to.mac]
        if quit_on_reply:
            answering = answering[:1]  # it exits on the first reply it reads
        for responder in answering:
            received += 1
            if not quiet:
                ctx.out(f"Unicast reply from {destination} [{responder.mac}]  {REPLY_MS:.3f}ms\n")
        if answering and not keep_broadcast and unicast_to is None:
            unicast_to = answering[0]
        if answering and quit_on_reply:
            break
    if not quiet:
        ctx.out(f"Sent {sent} probes ({broadcasts} broadcast(s))\nReceived {received} response(s)\n")
    if dad:
        return 1 if received else 0
    if unsolicited:
        return 0
    return 0 if received else 1


def _number(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise CommandError(f"arping: bad {what} {value!r}", 2) from None
    if number < 1:
        raise CommandError(f"arping: bad {what} {value!r}", 2)
    return number
