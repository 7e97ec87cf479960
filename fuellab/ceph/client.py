"""A Ceph client on a node: what librados does before the first command is answered.

It reads the node's ceph.conf (or `-c`), finds the entity's key in a keyring
(the `keyring` option or /etc/ceph/ceph.<entity>.keyring and the other
default paths), dials the monitors of `mon_host` from the node's management
segment and needs one that is part of a quorum. Then:

- nobody in a quorum answers: a real client hunts for ever (the `ceph` tool
  gives up after --connect-timeout): `ClientError(timeout=True)`, with the
  messenger's fault lines for the addresses where nothing listens;
- the quorum does not know the key: authentication error (EPERM);
- the fsid of the conf differs from the quorum's: refused (EPERM, "wrong fsid").

The same client is the data-plane API of the lab (glance, cinder and nova
store images, volumes and VM disks through it): `put`/`get` objects and
`create_rbd` images, placed on the OSDs as files (fuellab.ceph.data).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fuellab.ceph import cluster, data, keys, store
from fuellab.ceph import conf as cephconf
from fuellab.ceph.timefmt import log_prefix

if TYPE_CHECKING:
    from fuellab.network import AddressMap
    from fuellab.world import Node, World

DEFAULT_CONF = "/etc/ceph/ceph.conf"
DEFAULT_CONNECT_TIMEOUT = 5.0  # lab seconds; a real `ceph` without --connect-timeout waits for ever
HUNT_INTERVAL = 3.0  # lab seconds between two rounds of dialling every monitor
RBD_ORDER = 22  # 4 MiB objects


class ClientError(Exception):
    """The client got no usable answer; `lines` is what the tool prints on stderr."""

    def __init__(self, lines: list[str], status: int = 1, timeout: bool = False) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.status = status
        self.timeout = timeout


def fault_line(now: float, ip: str, port: int, n: int) -> str:
    return (f"{log_prefix(now, '7f3b9c0d3700')}-- :/10{1000 + n} >> {ip}:{port}/0 "
            f"pipe(0x7f3b9002{4480 + 0x300 * n:x} sd=3 :0 s=1 pgs=0 cs=0 l=1 c=0x7f3b9002{4710 + 0x300 * n:x}).fault")


def fault_lines(now: float, refused: list[tuple[str, int]], timeout: float) -> list[str]:
    rounds = max(1, int(timeout // HUNT_INTERVAL))
    out = []
    for r in range(rounds):
        for i, (ip, port) in enumerate(refused):
            out.append(fault_line(now + r * HUNT_INTERVAL, ip, port, r * len(refused) + i))
    return out


@dataclass
class Client:
    view: cluster.View
    quorum: cluster.Quorum
    node: Node
    entity: str

    @property
    def state(self) -> dict[str, Any]:
        return self.quorum.state

    @property
    def caps(self) -> dict[str, str]:
        return self.state["auth"].get(self.entity, {}).get("caps", {})

    def may(self, subsystem: str, want: str) -> bool:
        """A (coarse) reading of the entity's caps: `allow *`, `allow rw`, `allow r`."""
        cap = self.caps.get(subsystem, "")
        if "*" in cap:
            return True
        granted = set()
        for part in cap.split(","):
            words = part.split()
            if len(words) >= 2 and words[0] == "allow" and words[1] != "profile":
                granted |= set(words[1])
        return set(want) <= granted

    def commit(self) -> None:
        self.quorum.commit()

    # ------------------------------------------------------------------ objects

    def put(self, pool: str, name: str, payload: bytes, commit: bool = True) -> str:
        digest = data.write(self.view, self.quorum, pool, name, payload)
        if commit:
            self.commit()
        return digest

    def get(self, pool: str, name: str) -> bytes:
        return data.read(self.view, self.quorum, pool, name)

    def remove(self, pool: str, name: str) -> None:
        data.remove(self.view, self.quorum, pool, name)
        self.commit()

    def objects(self, pool: str) -> dict[str, list[Any]]:
        found = store.pool_by_name(self.state, pool)
        if found is None:
            raise data.DataError(f"error opening pool {pool}: (2) No such file or directory", "ENOENT")
        stuck = [pg for pg in self.state["pgmap"].get("incomplete", []) if pg.split(".")[0] == str(found["id"])]
        if stuck:
            # Listing visits every PG; an incomplete one never answers (a real client blocks).
            raise data.DataError(f"error listing pool {pool}: pg {stuck[0]} is incomplete: "
                                 "(110) Connection timed out", "ETIMEDOUT")
        return dict(self.state["pgmap"].get("objects", {}).get(str(found["id"]), {}))

    # ------------------------------------------------------------------ RBD (format 2)

    def rbd_directory(self, pool: str) -> dict[str, str]:
        if "rbd_directory" not in self.objects(pool):
            return {}
        return json.loads(self.get(pool, "rbd_directory").decode() or "{}")

    def create_rbd(self, pool: str, image: str, size: int, payload: bytes = b"") -> str:
        """An RBD image of `size` bytes whose first bytes are `payload` (images are sparse)."""
        directory = self.rbd_directory(pool)
        if image in directory:
            raise data.DataError("rbd: create error: (17) File exists", "EEXIST")
        image_id = secrets.token_hex(6)
        header = {"size": size, "order": RBD_ORDER, "object_prefix": f"rbd_data.{image_id}",
                  "format": 2, "features": 1, "data_size": len(payload), "data_md5": data.md5(payload)}
        self.put(pool, f"rbd_id.{image}", image_id.encode(), commit=False)
        self.put(pool, f"rbd_header.{image_id}", json.dumps(header, sort_keys=True).encode(), commit=False)
        if payload:
            self.put(pool, f"rbd_data.{image_id}.{0:016x}", payload, commit=False)
        directory[image] = image_id
        self.put(pool, "rbd_directory", json.dumps(directory, sort_keys=True).encode())
        return header["data_md5"]

    def rbd_info(self, pool: str, image: str) -> dict[str, Any]:
        image_id = self.rbd_directory(pool).get(image)
        if image_id is None:
            raise data.DataError(f"rbd: error opening image {image}: (2) No such file or directory", "ENOENT")
        header = json.loads(self.get(pool, f"rbd_header.{image_id}").decode())
        return {"name": image, "id": image_id, **header}

    def rbd_read(self, pool: str, image: str) -> bytes:
        info = self.rbd_info(pool, image)
        if not info.get("data_size"):
            return b""
        return self.get(pool, f"{info['object_prefix']}.{0:016x}")

    def rbd_remove(self, pool: str, image: str) -> None:
        info = self.rbd_info(pool, image)
        if info.get("data_size"):
            self.remove(pool, f"{info['object_prefix']}.{0:016x}")
        self.remove(pool, f"rbd_header.{info['id']}")
        self.remove(pool, f"rbd_id.{image}")
        directory = self.rbd_directory(pool)
        directory.pop(image, None)
        self.put(pool, "rbd_directory", json.dumps(directory, sort_keys=True).encode())


def find_key(world: World, node: Node, conf: cephconf.CephConf | None, entity: str,
             keyring: str | None) -> str | None:
    paths = [keyring] if keyring else cephconf.keyring_paths(conf, entity)
    for path in paths:
        text = cluster.read_text(store.resolve(world, node, path))
        if text is None:
            continue
        found = keys.parse_keyring(text).get(entity)
        if found is not None and found.key:
            return found.key
    return None


def connect(world: World, addresses: AddressMap | None, node: Node, *, conf_path: str | None = None,
            entity: str = "client.admin", keyring: str | None = None,
            timeout: float = DEFAULT_CONNECT_TIMEOUT, view: cluster.View | None = None,
            mon_addrs: list[tuple[str, int]] | None = None) -> Client:
    """Connect as `entity` from `node`; ClientError when the cluster cannot be used."""
    now = world.clock.now()
    text = cluster.read_text(store.resolve(world, node, conf_path or DEFAULT_CONF))
    if text is None:
        raise ClientError(["Error initializing cluster client: ObjectNotFound"])
    conf = cephconf.parse(text)
    key = find_key(world, node, conf, entity, keyring)
    if key is None:
        raise ClientError([
            f"{log_prefix(now, '7f3b9d4e2760', -1)}monclient(hunting): ERROR: missing keyring, "
            "cannot use cephx for authentication",
            f"{log_prefix(now, '7f3b9d4e2760')}librados: {entity} initialization error (2) No such file or directory",
            "Error connecting to cluster: ObjectNotFound",
        ])
    addrs = mon_addrs or conf.mon_addrs(entity)
    if not addrs:
        raise ClientError([
            f"{log_prefix(now, '7f3b9d4e2760', -1)}unable to find any monitors in conf. "
            "please specify monitors via -m monaddr or -c ceph.conf",
            "Error connecting to cluster: ObjectNotFound",
        ])
    view = view or cluster.refresh(world, addresses)
    reach = view.dial(node, addrs)
    quorums = view.quorums_reached(reach)
    if not quorums:
        raise ClientError(fault_lines(now, reach.refused, timeout) + ["Cluster connection aborted"],
                          timeout=True)
    quorum = quorums[0]
    known = quorum.state["auth"].get(entity, {}).get("key")
    if known != key:
        raise ClientError([
            f"{log_prefix(now, '7f3b9d4e2760')}librados: {entity} authentication error (1) Operation not permitted",
            "Error connecting to cluster: PermissionError",
        ])
    if conf.fsid and conf.fsid != quorum.fsid:
        raise ClientError(["Error EPERM: wrong fsid"])
    return Client(view, quorum, node, entity)
