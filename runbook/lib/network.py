"""Node networking: OVS bridges and ports, patch ports to the physical bridges, IPv4 addresses.

`unplug` deletes the patch-port pairs that join `br-mgmt`/`br-ex` to their
physical bridges (the node keeps its addresses but is off the wire) and
returns exactly what it removed; `plug` re-adds that record, so a journal can
keep it between the two. Neither touches links (`ip link`) or Neutron ports.

`patches` and `gre_ports` read a bridge's wiring from `ovs_ports`; `delete_ports` and
`add_gre` remove and re-add ports by the records those return (an overlay taken
down and put back);
`arp_replies` asks who answers ARP for an address on a node's segment (two
MACs for one address: an IP conflict; `arp_replies_many` several addresses in
one command), `link_macs` names the node's own MACs.
"""

from __future__ import annotations

import re
import shlex
import socket
from typing import Any

from runbook.errors import RemoteError
from runbook.lib.ssh import SSHPool

TIMEOUT = 60.0
FIX_OVS = "check openvswitch-switch on the node (ovs-vsctl show)"
_KV = re.compile(r'([\w:-]+)="?([^",}]*)"?')


def ovs_ports(pool: SSHPool, node: str) -> dict[str, dict[str, dict[str, Any]]]:
    """{bridge: {port: {"type", "options", "tag"}}} parsed from `ovs-vsctl show`."""
    out = pool.check(node, "ovs-vsctl show", timeout=TIMEOUT, fix=FIX_OVS).stdout
    bridges: dict[str, dict[str, dict[str, Any]]] = {}
    bridge: dict[str, dict[str, Any]] = {}
    port: dict[str, Any] = {}
    for line in out.splitlines():
        words = line.split(None, 1)
        if len(words) < 2:
            continue
        key, value = words[0].rstrip(":"), words[1].strip()
        if key == "Bridge":
            bridge = bridges.setdefault(value.strip('"'), {})
        elif key == "Port":
            port = bridge.setdefault(value.strip('"'), {"type": "", "options": {}, "tag": None})
        elif key == "tag":
            port["tag"] = int(value)
        elif key == "type":
            port["type"] = value
        elif key == "options":
            port["options"] = dict(_KV.findall(value.strip("{}")))
    return bridges


def patches(ports: dict[str, dict[str, dict[str, Any]]], bridge: str) -> list[dict[str, Any]]:
    """The patch pairs joining `bridge` to another bridge, both sides with their tags."""
    where = {name: br for br, members in ports.items() for name in members}
    pairs = []
    for name, port in ports.get(bridge, {}).items():
        peer = port["options"].get("peer")
        if port["type"] != "patch" or peer not in where:
            continue
        peer_bridge = where[peer]
        pairs.append({"bridge": bridge, "port": name, "tag": port["tag"],
                      "peer_bridge": peer_bridge, "peer_port": peer, "peer_tag": ports[peer_bridge][peer]["tag"]})
    return pairs


def gre_ports(ports: dict[str, dict[str, dict[str, Any]]], bridge: str) -> list[dict[str, Any]]:
    """The GRE tunnel ports of `bridge`: [{"port", "remote_ip", "key"}], by port name."""
    return [{"port": name, "remote_ip": port["options"].get("remote_ip"), "key": port["options"].get("key")}
            for name, port in sorted(ports.get(bridge, {}).items()) if port["type"] == "gre"]


def unplug(pool: SSHPool, node: str, bridges: tuple[str, ...] = ("br-mgmt", "br-ex")) -> list[dict[str, Any]]:
    """Delete both sides of each patch pair of `bridges`; the pairs removed (for `plug`)."""
    ports = ovs_ports(pool, node)
    removed = [pair for bridge in bridges for pair in patches(ports, bridge)]
    if removed:
        parts = []
        for p in removed:
            parts += [f"--if-exists del-port {shlex.quote(p['bridge'])} {shlex.quote(p['port'])}",
                      f"--if-exists del-port {shlex.quote(p['peer_bridge'])} {shlex.quote(p['peer_port'])}"]
        pool.check(node, "ovs-vsctl " + " -- ".join(parts), timeout=TIMEOUT, fix=FIX_OVS)
    return removed


def _add(bridge: str, port: str, tag: int | None, peer: str) -> str:
    tag_arg = f" tag={tag}" if tag is not None else ""
    return (f"--may-exist add-port {shlex.quote(bridge)} {shlex.quote(port)}{tag_arg} -- "
            f"set Interface {shlex.quote(port)} type=patch options:peer={shlex.quote(peer)}")


def plug(pool: SSHPool, node: str, removed: list[dict[str, Any]]) -> None:
    """Re-add the patch pairs `unplug` returned, each side on its bridge with its tag."""
    if not removed:
        return
    parts = []
    for p in removed:
        parts += [_add(p["bridge"], p["port"], p["tag"], p["peer_port"]),
                  _add(p["peer_bridge"], p["peer_port"], p["peer_tag"], p["port"])]
    pool.check(node, "ovs-vsctl " + " -- ".join(parts), timeout=TIMEOUT, fix=FIX_OVS)


def delete_ports(pool: SSHPool, node: str, ports: list[dict[str, Any]]) -> None:
    """Delete ports given as {"bridge", "port"} records (a missing one is fine)."""
    if not ports:
        return
    parts = [f"--if-exists del-port {shlex.quote(p['bridge'])} {shlex.quote(p['port'])}" for p in ports]
    pool.check(node, "ovs-vsctl " + " -- ".join(parts), timeout=TIMEOUT, fix=FIX_OVS)


def add_gre(pool: SSHPool, node: str, ports: list[dict[str, Any]]) -> None:
    """(Re-)add GRE ports given as {"bridge", "port", "remote_ip", "key"} records (one present is kept)."""
    if not ports:
        return
    parts = []
    for p in ports:
        key = f" options:key={shlex.quote(str(p['key']))}" if p.get("key") not in (None, "") else ""
        parts.append(f"--may-exist add-port {shlex.quote(p['bridge'])} {shlex.quote(p['port'])} -- "
                     f"set Interface {shlex.quote(p['port'])} type=gre "
                     f"options:remote_ip={shlex.quote(str(p['remote_ip']))}{key}")
    pool.check(node, "ovs-vsctl " + " -- ".join(parts), timeout=TIMEOUT, fix=FIX_OVS)


def addresses(pool: SSHPool, node: str) -> dict[str, list[str]]:
    """{interface: [address/prefix, ...]} from `ip -o -4 addr`."""
    command = "ip -o -4 addr"
    out = pool.check(node, command, timeout=TIMEOUT).stdout
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) < 4 or words[2] != "inet":
            raise RemoteError(node, command, 0, f"unexpected line: {line!r}", "check the iproute2 version")
        found.setdefault(words[1], []).append(words[3])
    return found


def link_macs(pool: SSHPool, node: str) -> dict[str, str]:
    """{device: MAC, lower case} of the node's links, from `ip -o link`."""
    out = pool.check(node, "ip -o link", timeout=TIMEOUT).stdout
    found = {}
    for line in out.splitlines():
        name = line.split(":", 2)[1].strip() if line.count(":") >= 2 else ""
        mac = re.search(r"link/\w+ ([0-9a-fA-F:]{17})", line)
        if name and mac:
            found[name.split("@")[0]] = mac.group(1).lower()
    return found


ARP_TIMEOUT = 30.0
_ARP_MARK = "octane-arping-status"
_REPLY = re.compile(r"^Unicast reply from \S+ \[([0-9A-Fa-f:]{17})\]")


def arp_replies(pool: SSHPool, node: str, address: str, device: str, *, probes: int = 2) -> list[str]:
    """The MACs (lower case, one per reply) answering ARP for `address` on `device`'s segment.

    `arping -b` keeps broadcasting, so every holder on the segment answers every
    probe: more than one distinct MAC means two live holders (an IP conflict);
    none means nobody on that segment holds it. The node's own addresses never answer.
    """
    return arp_replies_many(pool, node, {address: device}, probes=probes)[address]


def _arping(address: str, device: str, probes: int) -> str:
    return f"arping -b -c {int(probes)} -I {shlex.quote(device)} {shlex.quote(address)}"


def arp_replies_many(pool: SSHPool, node: str, targets: dict[str, str], *, probes: int = 2) -> dict[str, list[str]]:
    """`arp_replies` for each {address: device} of `targets`, in one SSH command (one round trip per
    node, not one per address: the checks ask every compute about several addresses)."""
    if not targets:
        return {}
    # Each arping's exit status, after its output, on a line of its own that arping never prints.
    script = "; ".join(f"{_arping(a, d, probes)}; echo \"{_ARP_MARK} $? {a}\"" for a, d in targets.items())
    result = pool.run(node, script, timeout=ARP_TIMEOUT * len(targets))
    found: dict[str, list[str]] = {}
    replies: list[str] = []
    for line in result.stdout.splitlines():
        mark = line.split()
        if len(mark) == 3 and mark[0] == _ARP_MARK and mark[2] in targets:
            address, status = mark[2], int(mark[1]) if mark[1].isdigit() else -1
            if status not in (0, 1):  # 1: no reply, a valid answer
                raise RemoteError(node, _arping(address, targets[address], probes), status, result.stderr,
                                  f"check that {targets[address]} exists on {node} and iputils-arping is installed")
            found[address], replies = replies, []
            continue
        reply = _REPLY.match(line)
        if reply:
            replies.append(reply.group(1).lower())
    missing = [a for a in targets if a not in found]
    if missing:
        raise RemoteError(node, _arping(missing[0], targets[missing[0]], probes), result.status, result.stderr,
                          f"check that the shell on {node} runs arping (no status was printed for {missing})")
    return found


def tcp_banner(address: str, port: int, timeout: float = 2.0) -> str | None:
    """What a TCP client gets first from `address:port` (a guest's SSH banner); None when nothing
    answers (refused, unreachable, silent within `timeout`)."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(256).decode(errors="replace")
    except OSError:
        return None
