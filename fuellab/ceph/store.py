"""The MON store: real files in the monitor's data directory on its node.

    /var/lib/ceph/mon/ceph-<id>/
        keyring                 the `mon.` key the monitors share
        store.db/fuellab.json   the cluster state this monitor holds (below)
        done, upstart           ceph-deploy's markers: created, started by upstart

The state is everything the monitors agree on through Paxos, as one JSON
document with a `version` (Paxos' last committed): `cluster_uuid` (what
check_fsid compares with the monmap at start), the `monmap`, the `auth`
database, the `osdmap` (OSDs up/in with their host, flags such as noout,
pools), the `pgmap` (object index per pool, PGs marked incomplete) and the
quorum last elected. Copy the directory and the copy holds the cluster.

A monmap travels outside the store as a file (`ceph-mon --extract-monmap`,
`monmaptool`): a one-line header then the JSON of the map.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any

from fuellab.ceph.conf import MON_PORT
from fuellab.node.context import node_path
from fuellab.world import Node, World

MON_DATA = "/var/lib/ceph/mon"
STORE_FILE = "store.db/fuellab.json"
MONMAP_MAGIC = "fuellab-monmap v1\n"
DEFAULT_POOLS = ("data", "metadata", "rbd", "images", "volumes", "backups", "compute")
DEFAULT_PG_NUM = 64


class StoreError(Exception):
    pass


class _WorldOnly:
    """What node_path needs of a lab, for callers that only have the world (scenarios)."""

    def __init__(self, world: World) -> None:
        self.world = world


def resolve(world: World, node: Node, abspath: str) -> Path:
    """A node path on the lab's folders, mount points included."""
    return node_path(_WorldOnly(world), node, abspath)  # type: ignore[arg-type]


def mon_dir(name: str) -> str:
    return f"{MON_DATA}/ceph-{name}"


def mon_path(world: World, node: Node, name: str) -> Path:
    return resolve(world, node, mon_dir(name))


def mon_names(world: World, node: Node) -> list[str]:
    """Monitors whose data directories exist on the node."""
    root = resolve(world, node, MON_DATA)
    if not root.is_dir():
        return []
    return sorted(p.name[5:] for p in root.iterdir() if p.name.startswith("ceph-") and p.is_dir())


# --------------------------------------------------------------------------- reading and writing

_cache: dict[Path, tuple[tuple[int, int, int], str]] = {}


def load(path: Path) -> dict[str, Any]:
    """The state in a mon data directory (a fresh copy); StoreError when missing or unreadable."""
    store = path / STORE_FILE
    try:
        st = store.stat()
    except OSError:
        raise StoreError(f"monitor data directory at '{path}' does not exist: have you run 'mkfs'?") from None
    sig = (st.st_ino, st.st_mtime_ns, st.st_size)
    hit = _cache.get(store)
    try:
        text = hit[1] if hit is not None and hit[0] == sig else store.read_text()
        state = json.loads(text)
    except (OSError, ValueError) as exc:
        raise StoreError(f"error opening mon data directory at '{path}': {exc}") from None
    if not isinstance(state, dict) or "monmap" not in state:
        raise StoreError(f"error opening mon data directory at '{path}': not a monitor store")
    _cache[store] = (sig, text)
    return state


def save(path: Path, state: dict[str, Any]) -> None:
    """Write atomically (a new inode each time, which also keys the read cache)."""
    store = path / STORE_FILE
    store.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(state, sort_keys=True)
    tmp = store.with_name(store.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, store)
    st = store.stat()
    _cache[store] = ((st.st_ino, st.st_mtime_ns, st.st_size), text)


def clone(state: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a state (JSON data: a round trip through the C codec is the fastest copy)."""
    return json.loads(json.dumps(state))


def clear_cache() -> None:
    _cache.clear()


# --------------------------------------------------------------------------- monmap


def addr(ip: str, port: int = MON_PORT) -> str:
    return f"{ip}:{port}/0"


def split_addr(value: str) -> tuple[str, int]:
    host, _, port = value.split("/", 1)[0].rpartition(":")
    return host, int(port) if port.isdigit() else MON_PORT


def _addr_key(mon: dict[str, Any]) -> tuple[int, int]:
    ip, port = split_addr(mon["addr"])
    try:
        return int(ipaddress.ip_address(ip)), port
    except ValueError:
        return 0, port


def sort_mons(monmap: dict[str, Any]) -> None:
    """Ranks follow address order, as in Ceph's MonMap."""
    monmap["mons"] = sorted(monmap["mons"], key=_addr_key)


def new_monmap(fsid: str, mons: list[tuple[str, str]], now: float, epoch: int = 1) -> dict[str, Any]:
    monmap = {"epoch": epoch, "fsid": fsid, "created": now, "modified": now,
              "mons": [{"name": name, "addr": addr(ip)} for name, ip in mons]}
    sort_mons(monmap)
    return monmap


def mon_entry(monmap: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((m for m in monmap["mons"] if m["name"] == name), None)


def rank_of(monmap: dict[str, Any], name: str) -> int:
    return next((i for i, m in enumerate(monmap["mons"]) if m["name"] == name), -1)


def write_monmap_file(path: Path, monmap: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(MONMAP_MAGIC + json.dumps(monmap, sort_keys=True) + "\n")


def read_monmap_file(path: Path) -> dict[str, Any]:
    """A monmap file; ValueError when the file is something else."""
    text = path.read_text(errors="replace")
    if not text.startswith(MONMAP_MAGIC):
        raise ValueError("unable to decode monmap")
    monmap = json.loads(text[len(MONMAP_MAGIC):])
    if not isinstance(monmap, dict) or "mons" not in monmap or "fsid" not in monmap:
        raise ValueError("unable to decode monmap")
    return monmap


# --------------------------------------------------------------------------- initial state


def new_pool(pool_id: int, name: str, size: int, pg_num: int = DEFAULT_PG_NUM,
             now: float = 0.0) -> dict[str, Any]:
    return {"id": pool_id, "name": name, "size": size, "min_size": 1, "pg_num": pg_num,
            "pgp_num": pg_num, "crush_ruleset": 0, "created": now}


def new_state(fsid: str, monmap: dict[str, Any], auth: dict[str, dict[str, Any]], size: int,
              now: float, pools: tuple[str, ...] = DEFAULT_POOLS) -> dict[str, Any]:
    """What `ceph-mon --mkfs` plus Fuel's pool creation leave in a new cluster's store."""
    return {
        "cluster_uuid": fsid,
        "version": 1,
        "election_epoch": 0,
        "quorum": [],
        "monmap": monmap,
        "auth": auth,
        "osdmap": {
            "epoch": 1, "fsid": fsid, "created": now, "modified": now, "flags": [],
            "osds": {}, "max_osd": 0,
            "pools": {str(i): new_pool(i, name, size, now=now) for i, name in enumerate(pools)},
            "pool_max": len(pools) - 1,
        },
        "pgmap": {"version": 1, "objects": {}, "incomplete": []},
    }


def pool_by_name(state: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((p for p in state["osdmap"]["pools"].values() if p["name"] == name), None)
