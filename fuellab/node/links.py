"""The node's network devices and addresses as the kernel would list them.

- `lo`, then the NICs of `Node.interfaces` (eth0..eth3) with their admin
  state; a NIC that is a `system` port of an OVS bridge has `master ovs-system`.
- `ovs-system` (the datapath) and one internal device per OVS bridge of
  `Node.ovs`, in the order deployment created them.
- The admin address sits on eth0; every other network's address on that
  network's bridge (br-mgmt, br-storage, br-ex; see world.Network.bridge).
  Addresses are configured whatever the wiring: isolation cuts a bridge off
  the wire (fuellab.network), it does not remove its address.
- A VIP that pacemaker places on the node shows as a secondary address of its
  network's bridge (Fuel keeps it in the `haproxy` namespace; the lab has no
  namespaces, so the node's own view is where an operator finds it).
"""

from __future__ import annotations

import ipaddress
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fuellab import services

if TYPE_CHECKING:
    from fuellab.world import Node, World


@dataclass
class Addr:
    family: str  # inet | inet6
    address: str
    prefix: int
    scope: str
    label: str
    brd: str | None = None
    secondary: bool = False


@dataclass
class Link:
    index: int
    name: str
    kind: str  # loopback | ether | datapath | bridge
    mac: str
    up: bool
    carrier: bool
    master: str | None = None
    addrs: list[Addr] = field(default_factory=list)

    @property
    def mtu(self) -> int:
        return 65536 if self.kind == "loopback" else 1500

    @property
    def flags(self) -> list[str]:
        if self.kind == "loopback":
            return ["LOOPBACK", "UP", "LOWER_UP"]
        flags = ["BROADCAST", "MULTICAST"] if self.kind in ("ether", "datapath") else ["BROADCAST"]
        if self.up:
            flags.append("UP")
            if self.carrier:
                flags.append("LOWER_UP")
        return flags

    @property
    def qdisc(self) -> str:
        if self.kind == "ether":
            return "pfifo_fast"
        return "noop" if self.kind == "datapath" else "noqueue"

    @property
    def state(self) -> str:
        if self.kind in ("loopback", "bridge"):
            return "UNKNOWN"
        return "UP" if self.up and self.carrier else "DOWN"


def _link_local(mac: str) -> str:
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    groups = [f"{eui[i] << 8 | eui[i + 1]:x}" for i in range(0, 8, 2)]
    return str(ipaddress.IPv6Address("fe80::" + ":".join(groups)))


def _bridge_mac(node: Node, bridge: str) -> str:
    if bridge.startswith("br-eth"):
        nic = node.interface(bridge[3:])
        if nic is not None:
            return nic.mac
    h = zlib.crc32(f"{node.id}:{bridge}".encode())
    return "be:" + ":".join(f"{(h >> s) & 0xFF:02x}" for s in (24, 16, 8, 0)) + f":{node.id & 0xFF:02x}"


def _v4(address: str, cidr: str, label: str, secondary: bool = False) -> Addr:
    net = ipaddress.ip_network(cidr)
    return Addr("inet", address, net.prefixlen, "global", label, str(net.broadcast_address), secondary)


def links(world: World, node: Node) -> list[Link]:
    out = [Link(1, "lo", "loopback", "00:00:00:00:00:00", True, True, None, [
        Addr("inet", "127.0.0.1", 8, "host", "lo"),
        Addr("inet6", "::1", 128, "host", ""),
    ])]
    system_ports = {p.name for ports in node.ovs.values() for p in ports if p.type == "system"}
    for nic in node.interfaces:
        link = Link(len(out) + 1, nic.name, "ether", nic.mac, nic.up, nic.up,
                    "ovs-system" if nic.name in system_ports else None)
        out.append(link)
    if node.ovs:
        out.append(Link(len(out) + 1, "ovs-system", "datapath", _bridge_mac(node, "ovs-system"), False, False))
        for bridge in node.ovs:
            out.append(Link(len(out) + 1, bridge, "bridge", _bridge_mac(node, bridge), True, True))
    by_name = {link.name: link for link in out}
    admin = world.networks.get("admin")
    if admin is not None and "admin" in node.ips and "eth0" in by_name:
        by_name["eth0"].addrs.append(_v4(node.ips["admin"], admin.cidr, "eth0"))
    for name, address in node.ips.items():
        net = world.networks.get(name)
        if name == "admin" or net is None or net.bridge not in by_name:
            continue
        by_name[net.bridge].addrs.append(_v4(address, net.cidr, net.bridge))
    for vip in services.vip_placements(world):
        net = world.networks.get(vip.network)
        if vip.node_id == node.id and net is not None and net.bridge in by_name:
            by_name[net.bridge].addrs.append(_v4(vip.address, net.cidr, net.bridge, secondary=True))
    for link in out:
        if link.kind in ("ether", "bridge") and link.up and link.carrier:
            link.addrs.append(Addr("inet6", _link_local(link.mac), 64, "link", ""))
    return out


def default_route(world: World, node: Node) -> tuple[str, str] | None:
    """(gateway, device): controllers route through the public network, others via the master."""
    public = world.networks.get("public")
    if public is not None and "public" in node.ips and public.bridge in node.ovs:
        return public.address(1), public.bridge
    if "admin" in node.ips and world.meta.get("master_ip"):
        return world.meta["master_ip"], "eth0"
    return None
