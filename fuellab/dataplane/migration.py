"""Scheduling, live migration and boot of guests, as nova-scheduler and nova-compute do them.

Capacity follows nova's RamFilter and CoreFilter: a compute offers
`memory_mb * ram_allocation_ratio - reserved_host_memory_mb` and
`cpu * cpu_allocation_ratio`, minus what the env's non-deleted instances on
it use and what migrations in flight to it have claimed. The ratios come
from the controllers' nova.conf (nova's defaults 1.5 and 16.0 otherwise).
Candidates are the computes whose nova-compute is up in the env
(fuellab.dataplane.plane) and not disabled in its `services` table.

A live migration (os-migrateLive) checks the instance is ACTIVE with no task,
both computes up in the same env, shared storage (Ceph ephemeral with
VIR_MIGRATE_LIVE in the source's live_migration_flag), libvirtd on both ends,
a target release not older than the source's, and capacity. Then, in the
background: precopy for `live_migration` lab seconds while the guest runs,
the guest paused for `migration_pause` lab seconds (its outage), and the
switch: the domain runs on the target, its definition moves, the instance row
and the port binding name the target. Boot, delete and start/stop are in
fuellab.dataplane.lifecycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fuellab import galera, services
from fuellab.dataplane import domains, plane
from fuellab.dataplane.engine import engine_of

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Cluster, Node, World

log = logging.getLogger("fuellab.dataplane")

DEFAULT_DURATIONS = {"live_migration": 20.0, "migration_pause": 0.2, "spawn": 15.0}  # lab seconds
RESERVED_HOST_MEMORY_MB = 512
DEFAULT_RAM_RATIO = 1.5
DEFAULT_CPU_RATIO = 16.0


class NoValidHost(Exception):
    """No compute can take the instance (nova's NoValidHost, HTTP 400)."""

    status = 400


class MigrationError(Exception):
    """The request cannot be carried out; `status` is the HTTP code nova answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def duration(lab: Lab, name: str) -> float:
    return float(lab.clock.durations.get(name, DEFAULT_DURATIONS[name]))


def env_id(cluster: Cluster | int) -> int:
    return cluster if isinstance(cluster, int) else cluster.id


def short_host(host: str) -> str:
    return host.split(".", 1)[0]


# --------------------------------------------------------------------------- capacity


def _inflight(lab: Lab) -> dict[str, list[tuple[int, int]]]:
    """Claims of migrations and builds in flight, per target host (the scheduler's memory)."""
    claims = getattr(lab, "_dataplane_claims", None)
    if claims is None:
        claims = {}
        lab._dataplane_claims = claims  # type: ignore[attr-defined]
    return claims


def reserve(lab: Lab, host: str, ram: int, vcpus: int) -> Callable[[], None]:
    """Claim capacity on `host` for an operation in flight; call the result to release it."""
    claim = (ram, vcpus)
    claims = _inflight(lab).setdefault(host, [])
    claims.append(claim)

    def release() -> None:
        if claim in claims:
            claims.remove(claim)

    return release


def ratios(lab: Lab, env: int) -> tuple[float, float]:
    """(ram, cpu) allocation ratios from the env's controllers' nova.conf."""
    world = lab.world
    for node in world.cluster_nodes(env):
        if "controller" not in node.roles:
            continue
        conf = plane.nova_conf(world, node)
        if conf is None:
            continue
        try:
            return (float(conf.options.get("ram_allocation_ratio", DEFAULT_RAM_RATIO)),
                    float(conf.options.get("cpu_allocation_ratio", DEFAULT_CPU_RATIO)))
        except ValueError:
            break
    return DEFAULT_RAM_RATIO, DEFAULT_CPU_RATIO


@dataclass
class Capacity:
    host: str
    free_ram: float
    free_vcpus: float

    def fits(self, ram: int, vcpus: int) -> str | None:
        if ram > self.free_ram:
            return f"Lack of memory(host:{int(self.free_ram)} <= instance:{ram})"
        if vcpus > self.free_vcpus:
            return f"Lack of vCPUs(host:{int(self.free_vcpus)} < instance:{vcpus})"
        return None


def capacity(lab: Lab, env: int, node: Node, conn: Any) -> Capacity:
    ram_ratio, cpu_ratio = ratios(lab, env)
    used_ram, used_cpu = conn.execute(
        "SELECT COALESCE(SUM(memory_mb), 0), COALESCE(SUM(vcpus), 0) FROM instances "
        "WHERE host = ? AND deleted = 0 AND vm_state != 'deleted'", (node.hostname,)).fetchone()
    for ram, vcpus in _inflight(lab).get(node.hostname, []):
        used_ram += ram
        used_cpu += vcpus
    return Capacity(node.hostname,
                    node.memory_mb * ram_ratio - RESERVED_HOST_MEMORY_MB - used_ram,
                    node.cpu * cpu_ratio - used_cpu)


def disabled_hosts(conn: Any) -> set[str]:
    rows = conn.execute("SELECT host FROM services WHERE \"binary\" = 'nova-compute' AND deleted = 0 "
                        "AND disabled = 1").fetchall()
    return {r[0] for r in rows}


def registered_hosts(conn: Any) -> set[str]:
    rows = conn.execute("SELECT host FROM services WHERE \"binary\" = 'nova-compute' AND deleted = 0")
    return {r[0] for r in rows.fetchall()}


def candidates(lab: Lab, cluster: Cluster, conn: Any) -> list[Node]:
    """Computes the scheduler may pick: nova-compute up in the env, registered, enabled."""
    world = lab.world
    registered = registered_hosts(conn)
    disabled = disabled_hosts(conn)
    out = []
    for node in sorted(world.nodes.values(), key=lambda n: n.id):
        if node.hostname not in registered or node.hostname in disabled:
            continue
        if plane.why_down(lab, cluster, node) is None:
            out.append(node)
    return out


def schedule(lab: Lab, cluster: Cluster, conn: Any, ram: int, vcpus: int,
             exclude: frozenset[str] | set[str] = frozenset(), min_release: str | None = None) -> Node:
    """The least loaded candidate that fits (most free RAM); NoValidHost when none does."""
    best: tuple[float, Node] | None = None
    for node in candidates(lab, cluster, conn):
        if node.hostname in exclude:
            continue
        if min_release and plane.older(plane.nova_release(lab.world, node), min_release):
            continue
        cap = capacity(lab, cluster.id, node, conn)
        if cap.fits(ram, vcpus) is None and (best is None or cap.free_ram > best[0]):
            best = (cap.free_ram, node)
    if best is None:
        raise NoValidHost("No valid host was found. There are not enough hosts available.")
    return best[1]


# --------------------------------------------------------------------------- live migration


def instance(lab: Lab, env: int, uuid: str) -> dict[str, Any]:
    with galera.read(lab.world, env, "nova") as conn:
        cur = conn.execute("SELECT * FROM instances WHERE uuid = ? AND deleted = 0", (uuid,))
        row = cur.fetchone()
        names = [d[0] for d in cur.description]
        if row is None:
            raise MigrationError(f"Instance {uuid} could not be found.", 404)
        out = dict(zip(names, row, strict=True))
        if not out.get("memory_mb") and out.get("instance_type_id") is not None:
            flavor = conn.execute("SELECT memory_mb, vcpus, root_gb FROM instance_types WHERE id = ?",
                                  (out["instance_type_id"],)).fetchone()
            if flavor is not None:
                out["memory_mb"], out["vcpus"], out["root_gb"] = flavor
    return out


def _need_libvirt(lab: Lab, node: Node) -> None:
    if not services.is_running(lab.world, node, "libvirt-bin"):
        raise MigrationError(f"Connection to the hypervisor is broken on host: {node.hostname}")


async def live_migrate(lab: Lab, cluster: Cluster | int, server_uuid: str, host: str | None) -> None:
    """Check and start a live migration; it completes in the background (task_state migrating)."""
    world = lab.world
    env = world.clusters.get(env_id(cluster))
    if env is None:
        raise MigrationError(f"no environment {cluster}", 404)
    row = instance(lab, env.id, server_uuid)
    if row.get("vm_state") != "active":
        raise MigrationError(f"Cannot 'os-migrateLive' instance {server_uuid} while it is in vm_state "
                             f"{row.get('vm_state')}", 409)
    if row.get("task_state"):
        raise MigrationError(f"Cannot 'os-migrateLive' instance {server_uuid} while it is in task_state "
                             f"{row.get('task_state')}", 409)
    source = world.node_by_hostname(row.get("host") or "")
    if source is None or plane.why_down(lab, env, source) is not None:
        raise MigrationError(f"Compute service of {row.get('host')} is unavailable at this time.")
    name = domains.domain_name(row["id"])
    if domains.running(source).get(name, {}).get("state") != domains.RUNNING:
        raise MigrationError(f"Instance {server_uuid} is not running on {source.hostname}: "
                             "nothing to migrate", 409)
    conf = plane.nova_conf(world, source)
    if conf is None or conf.images_type != "rbd" or "VIR_MIGRATE_LIVE" not in conf.live_migration_flag:
        raise MigrationError(f"{source.hostname} is not on shared storage: Live migration can not be "
                             "used without shared storage.")
    _need_libvirt(lab, source)
    ram, vcpus = int(row.get("memory_mb") or 0), int(row.get("vcpus") or 0)
    src_release = plane.nova_release(world, source)
    with galera.read(world, env.id, "nova") as conn:
        if host:
            target = world.node_by_hostname(short_host(host))
            if target is None or short_host(host) not in registered_hosts(conn):
                raise MigrationError(f"Compute host {host} could not be found.", 404)
            if target.id == source.id:
                raise MigrationError(f"Unable to migrate instance ({server_uuid}) to current host "
                                     f"({source.hostname}).")
            if plane.why_down(lab, env, target) is not None:
                raise MigrationError(f"Compute service of {target.hostname} is unavailable at this time.")
            lack = capacity(lab, env.id, target, conn).fits(ram, vcpus)
            if lack is not None:
                raise NoValidHost(f"No valid host was found. Unable to migrate {server_uuid} to "
                                  f"{target.hostname}: {lack}")
        else:
            target = schedule(lab, env, conn, ram, vcpus, exclude={source.hostname},
                              min_release=src_release)
    if plane.older(plane.nova_release(world, target), src_release):
        raise MigrationError(f"Unable to migrate {server_uuid} to {target.hostname}: the destination "
                             "runs an older nova-compute than the source "
                             f"({plane.nova_release(world, target)} < {src_release})")
    _need_libvirt(lab, target)
    try:
        with galera.write(world, env.id, "nova") as conn:
            conn.execute("UPDATE instances SET task_state = 'migrating', updated_at = NOW() "
                         "WHERE uuid = ? AND deleted = 0", (server_uuid,))
    except galera.GaleraError as exc:
        raise MigrationError(f"Remote error: {exc}", 500) from exc
    release = reserve(lab, target.hostname, ram, vcpus)
    lab.spawn(_migrate(lab, env.id, server_uuid, name, source.id, target.id, release),
              f"live-migrate-{server_uuid}")


async def _migrate(lab: Lab, env: int, uuid: str, name: str, source_id: int, target_id: int,
                   release: Callable[[], None]) -> None:
    world = lab.world
    started = lab.clock.now()
    outcome = "failed"
    reason = ""
    try:
        await lab.clock.sleep(duration(lab, "live_migration"))
        source, target = world.nodes.get(source_id), world.nodes.get(target_id)
        if source is None or target is None:
            reason = "a compute disappeared"
            return
        cluster = world.clusters[env]
        if name not in domains.running(source):
            reason = f"the guest no longer runs on {source.hostname}"
            return
        down = plane.why_down(lab, cluster, target)
        if down is not None or not services.is_running(world, target, "libvirt-bin"):
            reason = f"{target.hostname}: {down or 'libvirtd does not run'}"
            _resume(lab, env, uuid, source, name)
            return
        # The guest is paused for the final copy of its memory. The pause is accounted in lab
        # time (its nominal length), not as the wall time the lab takes to carry it out.
        engine = engine_of(lab)
        pause, paused_at = duration(lab, "migration_pause"), lab.clock.now()
        if engine is not None:
            engine.hold(uuid)
        flipped = False
        try:
            domains.set_state(world, source, name, domains.PAUSED)
            await lab.clock.sleep(pause)
            source, target = world.nodes.get(source_id), world.nodes.get(target_id)
            if source is None or target is None or name not in domains.running(source):
                reason = "the guest died during the switch-over"
                return
            if not target.online:
                reason = f"{target.hostname} went down during the switch-over"
                _resume(lab, env, uuid, source, name)
                return
            _flip(world, name, uuid, source, target)
            flipped = True
        finally:
            if engine is not None:
                engine.release(uuid, paused_at, pause if flipped else None)
        reason = _post_migration(lab, env, uuid, name, source, target) or ""
        outcome = "completed" if not reason else "failed"
    finally:
        release()
        if outcome != "completed":
            _clear_task(lab, env, uuid)
        world.record("live_migration", vm=uuid, env=env, status=outcome, reason=reason or None,
                     source=world.nodes[source_id].hostname if source_id in world.nodes else None,
                     target=world.nodes[target_id].hostname if target_id in world.nodes else None,
                     seconds=round(lab.clock.now() - started, 3))


def _resume(lab: Lab, env: int, uuid: str, source: Node, name: str) -> None:
    domains.set_state(lab.world, source, name, domains.RUNNING)


def _clear_task(lab: Lab, env: int, uuid: str) -> None:
    try:
        with galera.write(lab.world, env, "nova") as conn:
            conn.execute("UPDATE instances SET task_state = NULL, updated_at = NOW() "
                         "WHERE uuid = ? AND deleted = 0 AND task_state = 'migrating'", (uuid,))
    except galera.GaleraError as exc:
        log.warning("instance %s: task_state left as is: %s", uuid, exc)


def _flip(world: World, name: str, uuid: str, source: Node, target: Node) -> None:
    """The guest resumes on the target: its qemu runs there, its definition moves with it."""
    spec = domains.spec_of(world, source, name)
    live = source.domains.pop(name)
    target.domains[name] = {"uuid": live.get("uuid", uuid), "state": domains.RUNNING,
                            "since": live.get("since"), "id": domains.next_id(target)}
    world.changed()
    if spec is not None:
        domains.define(world, target, spec)  # VIR_MIGRATE_PERSIST_DEST
    domains.undefine(world, source, name, uuid)  # VIR_MIGRATE_UNDEFINE_SOURCE


def _post_migration(lab: Lab, env: int, uuid: str, name: str, source: Node, target: Node) -> str | None:
    """post_live_migration: the instance row and the port binding name the target."""
    try:
        with galera.write(lab.world, env, "nova") as conn:
            conn.execute(
                "UPDATE instances SET host = ?, node = ?, launched_on = ?, task_state = NULL, "
                "power_state = 1, updated_at = NOW() WHERE uuid = ? AND deleted = 0",
                (target.hostname, f"{target.hostname}.domain.tld", target.hostname, uuid))
    except galera.GaleraError as exc:
        # As in nova: the guest runs on the target, the DB still names the source.
        return f"post-migration DB update failed: {exc}"
    bind_port(lab, env, uuid, target.hostname)
    return None


def bind_port(lab: Lab, env: int, uuid: str, host: str) -> None:
    try:
        with galera.write(lab.world, env, "neutron") as conn:
            conn.execute("UPDATE ml2_port_bindings SET host = ? WHERE port_id IN "
                         "(SELECT id FROM ports WHERE device_id = ?)", (host, uuid))
    except galera.GaleraError as exc:
        log.warning("port binding of %s not moved to %s: %s", uuid, host, exc)
