"""Tenant traffic: a tenant that keeps writing through each env's public API.

For every public VIP of an env that has a tenant user (`generated["tenant"]`,
made by fuellab.content; a seed inherits it with the original's generated
attributes), a background task logs in through keystone v3 on the VIP and,
every `tenant_write` lab seconds, creates a nova key pair through the API, and
deletes the oldest of the ones it keeps once it holds a few: the real HTTP
path, through the HAProxy model, to whichever env answers the VIP. A write
the API accepts (2xx) is recorded in the lab's ledger:

    tenant_write {env, service, table, id, op: create|delete}

`env` is the env whose database holds the effect (looked up right after the
answer, since original and seed share the VIP). A refused write (503 in
maintenance, connection refused) is not a write; `api_writes {vip, accepted}`
marks when the API starts or stops accepting them.

Lost writes (`audit_lost_writes`): for an upgrade pair (original O, seed S),
once S has accepted a tenant write, the env answering the tenant's VIP serves
(S after the switch-over; O again after a rollback; if both or neither answer,
the env that accepted the latest write). Every resource
whose last accepted write went to the other env must be in the serving env's
database as that write left it (created -> present, deleted -> absent). Each
one that is not is a lost write, recorded once as `lost_write` (`env`: where
it was accepted, `lost_in`: the serving env). A dump taken while O still
accepted writes loses exactly the writes made after it; a rollback loses the
writes S accepted.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from fuellab import galera

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Cluster

log = logging.getLogger("fuellab.traffic")

WRITE_INTERVAL = 60.0  # lab seconds between two writes of a tenant
MIN_WALL_INTERVAL = 0.2  # wall seconds: a floor so a fast clock does not flood the lab
HTTP_TIMEOUT = 3.0  # wall seconds per request
KEEP = 3  # key pairs a tenant keeps before deleting the oldest
SCAN_INTERVAL = 0.5  # wall seconds between two looks for new VIPs
SERVICE, TABLE = "nova", "key_pairs"


class Refused(Exception):
    """The API did not accept the request (not a write)."""


def interval(lab: Lab) -> float:
    return float(lab.clock.durations.get("tenant_write", WRITE_INTERVAL))


def tenant_of(lab: Lab, cluster: Cluster) -> dict[str, str] | None:
    tenant = cluster.generated.get("tenant")
    if tenant:
        return tenant
    orig = lab.world.clusters.get(cluster.upgrade.get("orig_cluster_id", -1))
    return orig.generated.get("tenant") if orig is not None and orig is not cluster else None


def envs_on(lab: Lab, vip: str) -> list[int]:
    return sorted(c.id for c in lab.world.clusters.values() if c.vips.get("public") == vip)


# --------------------------------------------------------------------------- one tenant


@dataclass
class Tenant:
    lab: Lab
    vip: str
    credentials: dict[str, str]
    token: str | None = None
    user_id: str = ""
    compute: str = ""
    kept: list[str] = field(default_factory=list)
    accepting: bool | None = None
    counter: int = 0

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                started = time.monotonic()
                try:
                    await self.step(session)
                except (TimeoutError, Refused, aiohttp.ClientError, OSError, ValueError) as exc:
                    self._note(False, str(exc))
                wait = max(self.lab.clock.wall(interval(self.lab)), MIN_WALL_INTERVAL)
                await asyncio.sleep(max(0.0, wait - (time.monotonic() - started)))

    def _note(self, accepted: bool, why: str = "") -> None:
        if self.accepting is not accepted:
            self.accepting = accepted
            self.lab.world.record("api_writes", vip=self.vip, accepted=accepted, reason=why[:200] or None)

    async def _login(self, session: aiohttp.ClientSession) -> None:
        creds = self.credentials
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": creds["user"], "domain": {"name": creds.get("domain", "Default")},
            "password": creds["password"]}}},
            "scope": {"project": {"name": creds["project"],
                                  "domain": {"name": creds.get("domain", "Default")}}}}}
        async with session.post(f"http://{self.vip}:5000/v3/auth/tokens", json=body) as resp:
            if resp.status != 201:
                raise Refused(f"keystone answered {resp.status}")
            token = resp.headers.get("X-Subject-Token")
            data = await resp.json(content_type=None)
        info = data.get("token", {})
        project = info.get("project", {}).get("id", "")
        for service in info.get("catalog", []):
            if service.get("type") != "compute":
                continue
            for ep in service.get("endpoints", []):
                if ep.get("interface") == "public":
                    url = ep["url"]
                    for marker in ("%(tenant_id)s", "$(tenant_id)s", "%(project_id)s", "$(project_id)s"):
                        url = url.replace(marker, project)
                    self.compute = url.rstrip("/")
        if not token or not self.compute:
            raise Refused("no token or no compute endpoint in the catalog")
        self.token = token
        self.user_id = info.get("user", {}).get("id", "")
        # Key pairs left by an earlier run of the lab (before a restart or a restore) are ours.
        headers = {"X-Auth-Token": token, "Accept": "application/json"}
        async with session.get(f"{self.compute}/os-keypairs", headers=headers) as resp:
            if resp.status == 200:
                listed = (await resp.json(content_type=None)).get("keypairs", [])
                names = [k.get("keypair", {}).get("name", "") for k in listed]
                self.kept = [n for n in names if n.startswith("traffic-") and n not in self.kept] + self.kept

    async def _call(self, session: aiohttp.ClientSession, method: str, path: str,
                    body: dict[str, Any] | None = None) -> int:
        headers = {"X-Auth-Token": self.token or "", "Accept": "application/json"}
        async with session.request(method, f"{self.compute}{path}", json=body, headers=headers) as resp:
            await resp.read()
            if resp.status == 401:
                self.token = None
            return resp.status

    async def step(self, session: aiohttp.ClientSession) -> None:
        if self.token is None:
            await self._login(session)
        if len(self.kept) >= KEEP:
            name = self.kept[0]
            status = await self._call(session, "DELETE", f"/os-keypairs/{name}")
            if status in (202, 204):
                self.kept.pop(0)
                self._accepted("delete", name)
            elif status == 404:
                self.kept.pop(0)  # gone (a restore or another writer): not a write of ours
            else:
                raise Refused(f"DELETE os-keypairs answered {status}")
        self.counter += 1
        name = f"traffic-{secrets.token_hex(4)}-{self.counter}"
        key = base64.b64encode(b"\x00\x00\x00\x07ssh-rsa" + secrets.token_bytes(64)).decode()
        status = await self._call(session, "POST", "/os-keypairs",
                                  {"keypair": {"name": name, "public_key": f"ssh-rsa {key} traffic"}})
        if status not in (200, 201):
            raise Refused(f"POST os-keypairs answered {status}")
        self.kept.append(name)
        self._accepted("create", name)

    def _accepted(self, op: str, name: str) -> None:
        self._note(True)
        env = self._env_holding(name, op)
        self.lab.world.record("tenant_write", env=env, vip=self.vip, service=SERVICE, table=TABLE,
                              id=f"{self.user_id}/{name}", op=op)

    def _env_holding(self, name: str, op: str) -> int | None:
        """The env that accepted the write: the one whose DB holds a created key pair, else the
        env of the node answering the VIP now (original and seed share it)."""
        key = f"{self.user_id}/{name}"
        if op == "create":
            having = [e for e in envs_on(self.lab, self.vip) if resource_exists(self.lab, e, key)]
            if len(having) == 1:
                return having[0]
        return _serving_env(self.lab, self.vip)


def resource_exists(lab: Lab, env: int, key: str) -> bool | None:
    """Is the tenant's key pair `<user_id>/<name>` in env's nova DB? None: no such DB/table."""
    user_id, _, name = key.partition("/")
    try:
        conn = galera.connect(lab.world, env, SERVICE)
    except galera.GaleraError:
        return None
    try:
        row = conn.execute("SELECT 1 FROM key_pairs WHERE user_id = ? AND name = ? AND deleted = 0",
                           (user_id, name)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return row is not None


# --------------------------------------------------------------------------- the background task


async def run(lab: Lab) -> None:
    """One tenant per public VIP of an env with a tenant user; started as VIPs appear."""
    tasks: dict[str, asyncio.Task[None]] = {}
    try:
        while True:
            for cluster in list(lab.world.clusters.values()):
                vip = cluster.vips.get("public")
                creds = tenant_of(lab, cluster)
                if not vip or not creds or vip in tasks:
                    continue
                tenant = Tenant(lab, vip, creds)
                tasks[vip] = asyncio.get_running_loop().create_task(tenant.run(), name=f"tenant-{vip}")
            await asyncio.sleep(SCAN_INTERVAL)
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


def start(lab: Lab) -> None:
    if lab.world.meta.get("tenant_traffic", True):
        lab.spawn(run(lab), "tenant-traffic")


# --------------------------------------------------------------------------- lost writes


def _pairs(lab: Lab) -> list[tuple[int, int]]:
    out = []
    for cluster in lab.world.clusters.values():
        orig, seed = cluster.upgrade.get("orig_cluster_id"), cluster.upgrade.get("seed_cluster_id")
        if cluster.id == seed and orig in lab.world.clusters:
            out.append((orig, seed))
    return out


def _serving_env(lab: Lab, vip: str | None) -> int | None:
    """The env whose controller answers the tenant's VIP now, when exactly one does. Who answers
    decides who serves; the order of the ledger's last writes can mislead (a write accepted by one
    env may be recorded after the other's first one, around a switch-over)."""
    if not vip:
        return None
    world = lab.world
    envs = {world.nodes[h.node_id].cluster for h in lab.addresses.live_holders(vip)} - {None}
    return envs.pop() if len(envs) == 1 else None


def audit_lost_writes(lab: Lab) -> int:
    """Record the lost writes found now (each once); how many the ledger holds in all."""
    world = lab.world
    recorded = {(e.get("lost_in", e.get("seed")), e.get("table"), e.get("id")) for e in world.ledger
                if e["kind"] == "lost_write"}
    for orig, seed in _pairs(lab):
        writes = [e for e in world.ledger if e["kind"] == "tenant_write" and e.get("env") in (orig, seed)]
        if not any(e.get("env") == seed for e in writes):
            continue  # the seed does not serve yet
        serving = _serving_env(lab, writes[-1].get("vip")) or writes[-1]["env"]
        last: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in writes:
            last[(entry["table"], entry["id"])] = entry
        for (table, key), entry in last.items():
            if entry.get("env") == serving or (serving, table, key) in recorded:
                continue
            present = resource_exists(lab, serving, key)
            if present is None or present == (entry.get("op") == "create"):
                continue
            world.record("lost_write", env=entry.get("env"), seed=seed, lost_in=serving,
                         service=entry.get("service"), table=table, id=key, op=entry.get("op"),
                         accepted_at=entry.get("at"))
            recorded.add((serving, table, key))
    return sum(1 for e in world.ledger if e["kind"] == "lost_write")
