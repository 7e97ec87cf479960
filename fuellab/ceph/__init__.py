"""The lab's Ceph (firefly 0.80.9 as Fuel 6.1/7.0 deploy it): monitors, OSDs, placement, data.

State lives in files on the nodes (monitor stores, OSD data directories,
ceph.conf and keyrings) and in the world (jobs, addresses); every answer is
derived from them by `refresh` (fuellab.ceph.cluster). Entry points:

- `on_deploy(world, cluster, node)` and `conf_for(...)`: what deployment does
  (fuellab.install.deploy, fuellab.configs.write_all);
- `monitor(lab)`: the background loop (fuellab.daemon);
- `connect(...)` / `client_on(lab, node, entity)`: a client on a node, also the
  data-plane API (`put`, `get`, `create_rbd`, `rbd_read`, `rbd_remove`, ...),
  and `create_object` / `create_rbd` shortcuts (fuellab.content seeds the
  scenario's images, volumes and VM disks through it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fuellab.ceph.client import Client, ClientError, connect
from fuellab.ceph.cluster import View, refresh
from fuellab.ceph.data import DataError
from fuellab.ceph.deploy import conf_for, on_deploy
from fuellab.ceph.monitor import monitor

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Node

__all__ = ["Client", "ClientError", "DataError", "View", "conf_for", "connect", "create_object",
           "create_rbd", "monitor", "on_deploy", "refresh", "client_on"]


def client_on(lab: Lab, node: Node, entity: str = "client.admin") -> Client:
    """A client on `node` with its own ceph.conf and keyring (ClientError if it cannot connect)."""
    return connect(lab.world, lab.addresses, node, entity=entity)


def create_object(lab: Lab, node: Node, pool: str, name: str, payload: bytes) -> str:
    """Write an object from `node` (as client.admin); its md5."""
    return client_on(lab, node).put(pool, name, payload)


def create_rbd(lab: Lab, node: Node, pool: str, image: str, size: int, payload: bytes = b"") -> str:
    """Create an RBD image from `node`; the md5 of its written data."""
    return client_on(lab, node).create_rbd(pool, image, size, payload)
