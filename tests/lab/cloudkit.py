"""What a tenant or an operator sees of an env from outside: openstacksdk, TCP probes, VIP answers.

Every call has a timeout; waits poll with a deadline.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

import openstack
import requests
import yaml

from fuellab import traffic
from tests.labkit import LabHandle

T = TypeVar("T")

TIMEOUT = 10.0


def wait_for(check: Callable[[], T], what: str = "condition", timeout: float = TIMEOUT, step: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` wall seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what} ({timeout} s)"
        time.sleep(step)


def connect(lab: LabHandle, cloud: str = "env-1") -> openstack.connection.Connection:
    """A fresh openstacksdk connection from the lab's clouds.yaml (no cached token or discovery)."""
    config = openstack.config.OpenStackConfig(config_files=[str(lab.dir / "clouds.yaml")])
    return openstack.connection.Connection(config=config.get_one(cloud), api_timeout=TIMEOUT)


def public_vip(lab: LabHandle, env: int = 1) -> str:
    return next(c for c in lab.status()["clusters"] if c["id"] == env)["vips"]["public"]


def db_rows(lab: LabHandle, service: str, sql: str, env: int = 1) -> list[tuple]:
    """What the env's database holds, read from its file: the witness the APIs must agree with."""
    conn = sqlite3.connect(lab.dir / "envdbs" / f"env-{env}" / f"{service}.sqlite")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def keystone_versions(vip: str, tries: int = 12) -> set[str]:
    """The identity API versions answering the VIP over `tries` requests: Juno's v3.0, Kilo's v3.4.

    One value: one keystone holds the VIP; two: two clusters answer it in turn (flapping)."""
    return {requests.get(f"http://{vip}:5000/v3", timeout=TIMEOUT).json()["version"]["id"] for _ in range(tries)}


def identity_answers(vip: str, tries: int = 12) -> list[tuple[int, str]]:
    """What `tries` GETs of the identity API on the VIP get: (status, version id or error message)."""
    out = []
    for _ in range(tries):
        resp = requests.get(f"http://{vip}:5000/v3", timeout=TIMEOUT)
        body = resp.json()
        out.append((resp.status_code, body["version"]["id"] if "version" in body else body["error"]["message"]))
    return out


# --------------------------------------------------------------------------- guests


def floating_ip(server: Any) -> str:
    return next(a["addr"] for net in server.addresses.values() for a in net
                if a.get("OS-EXT-IPS:type") == "floating")


def guests(conn: openstack.connection.Connection) -> list[Any]:
    return list(conn.compute.servers(details=True, all_projects=True))


def probe(lab: LabHandle, address: str, timeout: float = 1.0) -> str | None:
    """What a TCP client gets on the guest's SSH port: its banner, or None (refused, timeout)."""
    try:
        with socket.create_connection((address, lab.target["vm_probe_port"]), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(256).decode(errors="replace")
    except OSError:
        return None


def answering(lab: LabHandle, servers: list[Any]) -> set[str]:
    """Ids of the guests whose floating IP answers with their own banner."""
    return {s.id for s in servers if s.id in (probe(lab, floating_ip(s)) or "")}


def compute_states(conn: openstack.connection.Connection) -> dict[str, str]:
    """nova-compute's state per host, as the env's os-services shows it."""
    return {s.host: s.state for s in conn.compute.services() if s.binary == "nova-compute"}


# --------------------------------------------------------------------------- the tenant's writes (ledger)


def tenant_writes(lab: LabHandle) -> int:
    """Writes the lab's tenant got accepted through the env's API so far (`fuellab inspect`)."""
    return lab.inspect()["tenant_writes"]


def wait_writes_beyond(lab: LabHandle, count: int, timeout: float = TIMEOUT) -> int:
    return wait_for(lambda: (now := tenant_writes(lab)) > count and now, f"a tenant write beyond {count}", timeout)


def write_period(lab: LabHandle) -> float:
    """Wall seconds between two writes of the tenant (fuellab.traffic's interval at the lab's speed)."""
    factor = float(yaml.safe_load((lab.dir / "lab.yaml").read_text())["time_factor"])
    return max(traffic.WRITE_INTERVAL * factor, traffic.MIN_WALL_INTERVAL)


def writes_settled(lab: LabHandle, periods: int = 3, timeout: float = TIMEOUT) -> int:
    """The tenant's write count once it has not moved for `periods` write periods (a write that was
    in flight when the API changed has landed by then); fails if it keeps moving past `timeout`."""
    quiet = periods * write_period(lab)
    deadline = time.monotonic() + timeout
    count, since = tenant_writes(lab), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, f"the tenant kept writing for {timeout} s"
        time.sleep(0.05)
        now = tenant_writes(lab)
        if now != count:
            count, since = now, time.monotonic()
    return count
