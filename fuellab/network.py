"""Who answers an address: L2 segments derived from NIC state and OVS wiring.

A node's bridges are joined by OVS patch-port pairs, by GRE tunnels whose two
ends point at each other's admin address, and to the datacenter wire of a NIC
by a `system` port while that NIC is up. The connected components of that
graph are the L2 segments. An address is *live* where its holder is online
and its bridge is in a segment; an observer on the datacenter wire (the Fuel
master, an operator, the tests) reaches only the holders on the wire's segment.
Two live holders of one address in one segment are an IP conflict: the lab
records it in the ledger and the address answers unreliably (flapping).

Isolation needs no flag: a seed controller whose br-mgmt/br-ex have no patch
to br-eth* simply sits on a segment of its own (or on a GRE overlay shared with
the other seed controllers), so its copies of the VIPs clash with nobody.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from fuellab import services
from fuellab.world import Node, World

Vertex = tuple[int, str]  # (node id, bridge) or (-1, "wire:<nic>")


def wire(nic: str) -> Vertex:
    return (-1, f"wire:{nic}")


@dataclass(frozen=True)
class Holder:
    node_id: int
    network: str
    segment: Vertex  # the component's representative
    vip: str | None = None  # name of the VIP when the address is one


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Vertex, Vertex] = {}

    def find(self, v: Vertex) -> Vertex:
        self.parent.setdefault(v, v)
        root = v
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[v] != root:
            self.parent[v], v = root, self.parent[v]
        return root

    def union(self, a: Vertex, b: Vertex) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Keep wires as representatives so segment ids are stable and readable.
            if rb[0] == -1:
                ra, rb = rb, ra
            self.parent[rb] = ra


def _admin_live(node: Node) -> bool:
    eth0 = node.interface("eth0")
    return node.online and eth0 is not None and eth0.up


def segments(world: World) -> _UnionFind:
    """The L2 segments of the world as it is now (cached until the world changes)."""
    cached = getattr(world, "_segments_cache", None)
    if cached is not None and cached[0] == world.version:
        return cached[1]
    uf = _compute_segments(world)
    world._segments_cache = (world.version, uf)  # type: ignore[attr-defined]
    return uf


def _compute_segments(world: World) -> _UnionFind:
    uf = _UnionFind()
    admin_index = {n.ips.get("admin"): n for n in world.nodes.values() if _admin_live(n)}
    for node in world.nodes.values():
        if not node.online:
            continue
        port_bridge = {p.name: br for br, ports in node.ovs.items() for p in ports}
        for bridge, ports in node.ovs.items():
            here = (node.id, bridge)
            uf.find(here)
            for port in ports:
                if port.type == "system":
                    nic = node.interface(port.name)
                    if nic is not None and nic.up:
                        uf.union(here, wire(port.name))
                elif port.type == "patch":
                    peer = port.options.get("peer")
                    if peer in port_bridge:
                        uf.union(here, (node.id, port_bridge[peer]))
                elif port.type == "gre" and _admin_live(node):
                    remote = admin_index.get(port.options.get("remote_ip"))
                    if remote is None:
                        continue
                    # Tunnels between the same two hosts are told apart by their key.
                    key = port.options.get("key")
                    for rbridge, rports in remote.ovs.items():
                        if any(
                            rp.type == "gre" and rp.options.get("remote_ip") == node.admin_ip
                            and rp.options.get("key") == key
                            for rp in rports
                        ):
                            uf.union(here, (remote.id, rbridge))
    return uf


def compute_holders(world: World) -> dict[str, list[Holder]]:
    """Every live address and who holds it, in which segment."""
    uf = segments(world)
    held: dict[str, list[Holder]] = defaultdict(list)
    for node in world.nodes.values():
        if not node.online:
            continue
        if _admin_live(node) and "admin" in node.ips:
            held[node.ips["admin"]].append(Holder(node.id, "admin", wire("eth0")))
        for net_name, ip in node.ips.items():
            net = world.networks.get(net_name)
            if net is None or net_name == "admin" or net.bridge not in node.ovs:
                continue
            held[ip].append(Holder(node.id, net_name, uf.find((node.id, net.bridge))))
    for vip in services.vip_placements(world):
        node = world.nodes[vip.node_id]
        net = world.networks[vip.network]
        if node.online and net.bridge in node.ovs:
            held[vip.address].append(
                Holder(node.id, vip.network, uf.find((node.id, net.bridge)), vip=vip.name)
            )
    return held


class AddressMap:
    """Cached view of the live addresses, recomputed when the world version moves."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._version = -1
        self._held: dict[str, list[Holder]] = {}

    def holders(self) -> dict[str, list[Holder]]:
        if self._version != self.world.version:
            self._held = compute_holders(self.world)
            self._version = self.world.version
            self._audit()
        return self._held

    def live_holders(self, address: str, segment: Vertex | None = None) -> list[Holder]:
        """Holders of `address` reachable from `segment` (default: the address's own wire)."""
        found = self.holders().get(address, [])
        if segment is None:
            segment = self.wire_segment(address)
        return [h for h in found if h.segment == segment]

    def wire_segment(self, address: str) -> Vertex:
        for net in self.world.networks.values():
            if _in_cidr(address, net.cidr):
                return wire(net.nic)
        return wire("eth0")

    def conflicts(self) -> dict[str, list[Holder]]:
        out: dict[str, list[Holder]] = {}
        for address, holders in self.holders().items():
            by_segment: dict[Vertex, list[Holder]] = defaultdict(list)
            for h in holders:
                by_segment[h.segment].append(h)
            for seg_holders in by_segment.values():
                if len({h.node_id for h in seg_holders}) > 1:
                    out[address] = seg_holders
        return out

    def _audit(self) -> None:
        """Record each new conflict once in the ledger; note when it ends."""
        meta = self.world.meta
        open_now = {
            a: sorted({self.world.nodes[h.node_id].hostname for h in hs})
            for a, hs in self.conflicts().items()
        }
        previous: dict[str, list[str]] = meta.get("open_conflicts", {})
        if open_now == previous:
            return
        version = self.world.version
        for address, holders in open_now.items():
            if previous.get(address) != holders:
                self.world.record("ip_conflict", address=address, holders=holders)
        for address in set(previous) - set(open_now):
            self.world.record("ip_conflict_end", address=address)
        meta["open_conflicts"] = open_now
        # Recording bumps the version; the holders did not change because of it.
        self._version = self.world.version if self.world.version != version else self._version


def _in_cidr(address: str, cidr: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)
    except ValueError:
        return False
