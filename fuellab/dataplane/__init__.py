"""The data plane: tenant guests on the computes and whether they can be reached.

- `domains`: libvirt guests (definitions on the compute's disk, qemu processes in the world);
- `plane`: which env's control plane a compute reports to, `compute_up`;
- `reach`: whether a guest answers on its floating IP;
- `engine`: listeners on the floating IPs, outages in the ledger, nova's power-state sync;
- `migration`: the scheduler (capacity) and live migration;
- `lifecycle`: boot, delete, start/stop.

Interface for the OpenStack APIs (fuellab.openstack): `compute_up`, `live_migrate`
(raises `NoValidHost` / `MigrationError`), `boot`, `delete`, `power`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fuellab.dataplane.engine import Engine, engine_of
from fuellab.dataplane.lifecycle import boot, delete, power
from fuellab.dataplane.migration import MigrationError, NoValidHost, live_migrate
from fuellab.dataplane.plane import compute_up, why_down

if TYPE_CHECKING:
    from fuellab.lab import Lab

__all__ = ["Engine", "MigrationError", "NoValidHost", "boot", "compute_up", "delete", "engine_of",
           "live_migrate", "power", "start", "why_down"]


def start(lab: Lab) -> None:
    """Start the data plane and the tenant traffic of every env (Daemon.start_services)."""
    from fuellab import traffic

    engine = Engine(lab)
    lab.dataplane = engine  # type: ignore[attr-defined]
    lab.spawn(engine.run(), "dataplane")
    traffic.start(lab)
