"""arping on a node: who answers ARP for an address on the segment a device reaches.

The operator's view of an IP conflict: a second holder of an address on the
same segment answers too (another MAC); an isolated holder answers nobody on
the wire. The answers come from the address map (fuellab.network), so they
follow the wiring: a seed controller deployed with Fuel's default scheme shows
up, the same controller deployed isolated does not.
"""

from __future__ import annotations

import re

from tests.lab.seedkit import SEED_HOST, deploy, isolated_seed, ok, seed_with_controller


def _macs(out: str) -> list[str]:
    return re.findall(r"^Unicast reply from \S+ \[([0-9A-F:]{17})\]", out, re.MULTILINE)


def _bridge_mac(lab, host: str, bridge: str) -> str:
    line = ok(lab, host, f"ip -o link show {bridge}")
    return re.search(r"link/ether ([0-9a-f:]{17})", line).group(1).upper()


def _mgmt(lab, host: str) -> str:
    """The node's own management address (the primary one on br-mgmt)."""
    out = ok(lab, host, "ip -o -4 addr show br-mgmt")
    return next(m.group(1) for line in out.splitlines()
                if "secondary" not in line and (m := re.search(r"inet ([\d.]+)/", line)))


def _vip(lab) -> str:
    """The management VIP, as the controller holding it lists it (a secondary address of br-mgmt)."""
    for host in ("node-1", "node-2", "node-3"):
        out = ok(lab, host, "ip -o -4 addr show br-mgmt")
        for line in out.splitlines():
            if "secondary" in line:
                return re.search(r"inet ([\d.]+)/", line).group(1)
    raise AssertionError("no controller holds the management VIP")


def test_the_holder_answers_with_its_bridge_mac_and_a_free_address_nobody(shared_lab):
    lab = shared_lab
    address = _mgmt(lab, "node-1")
    status, out, _ = lab.run("node-2", f"arping -c 2 -I br-mgmt {address}")
    assert status == 0, out
    assert out.splitlines()[0] == f"ARPING {address} from {_mgmt(lab, 'node-2')} br-mgmt"
    assert _macs(out) == [_bridge_mac(lab, "node-1", "br-mgmt")] * 2
    assert "Sent 2 probes (1 broadcast(s))" in out and "Received 2 response(s)" in out  # unicast after a reply
    free = address.rsplit(".", 1)[0] + ".250"
    status, out, _ = lab.run("node-2", f"arping -D -c 2 -I br-mgmt {free}")
    assert status == 0 and "from 0.0.0.0 br-mgmt" in out and "Received 0 response(s)" in out
    status, out, _ = lab.run("node-2", f"arping -c 1 -I br-mgmt {free}")
    assert status == 1 and _macs(out) == []
    # A node does not answer itself.
    assert lab.run("node-1", f"arping -c 1 -I br-mgmt {address}")[0] == 1
    status, _, err = lab.run("node-2", f"arping -c 1 -I br-nope {address}")
    assert status == 2 and "unknown iface br-nope" in err
    status, _, err = lab.run("node-2", f"arping -I br-mgmt {address}")
    assert status == 2 and "-c COUNT or -w TIMEOUT" in err
    assert lab.run("node-4", "arping -V")[0] == 0  # iputils-arping is in the base system


def test_seed_on_the_wire_answers_for_the_originals_addresses(lab):
    vip, own = _vip(lab), _mgmt(lab, "node-1")
    api, sid = seed_with_controller(lab)
    deploy(api, sid)  # Fuel's default scheme: br-mgmt patched to the wire
    seed_mac = _bridge_mac(lab, SEED_HOST, "br-mgmt")
    for address in (vip, own):
        status, out, _ = lab.run("node-3", f"arping -b -c 2 -I br-mgmt {address}")
        assert status == 0 and len(set(_macs(out))) == 2 and seed_mac in _macs(out), out
        assert "Received 4 response(s)" in out
        # Duplicate address detection stops at the first answer and says so with its status.
        status, out, _ = lab.run("node-3", f"arping -D -c 2 -I br-mgmt {address}")
        assert status == 1 and len(_macs(out)) == 1, out


def test_isolated_seed_answers_only_on_its_own_segment(lab):
    vip, own = _vip(lab), _mgmt(lab, "node-1")
    isolated_seed(lab)
    seed_mac = _bridge_mac(lab, SEED_HOST, "br-mgmt")
    for address in (vip, own):
        out = ok(lab, "node-3", f"arping -b -c 2 -I br-mgmt {address}")
        assert seed_mac not in _macs(out) and len(set(_macs(out))) == 1, out
    # From the seed controller, its br-mgmt reaches nobody else holding node-1's address.
    status, out, _ = lab.run(SEED_HOST, f"arping -b -c 2 -I br-mgmt {own}")
    assert status == 1 and _macs(out) == [], out
    # Its storage network stays on the wire: node-1 answers there.
    storage = re.search(r"inet ([\d.]+)/", ok(lab, "node-1", "ip -o -4 addr show br-storage")).group(1)
    assert _macs(ok(lab, SEED_HOST, f"arping -c 1 -I br-storage {storage}")) == [
        _bridge_mac(lab, "node-1", "br-storage")]
