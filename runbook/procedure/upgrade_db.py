"""Stage 3, upgrade-db (`octane upgrade-db SEED`): the original's databases, frozen, copied and migrated.

Steps, each journaled (a re-run continues from the first step not done):

1. `preconditions`: the seed and its controllers (stage 2's facts), MySQL
   answering on the seed controller that will take the restore, the master's
   private workspace (stage 1), the target schema versions (the upgrade path
   plugin). Refused here, before anything changes.
2. `maintenance: haproxy read-only`, `maintenance: restart p_haproxy`: every
   original controller's HTTP API frontends (keystone's excepted) send
   non-GET requests to an empty `backend maintenance` (503), then one
   restart of the p_haproxy clone loads them: reads keep working, keystone
   keeps issuing tokens, tenants can no longer write.
3. `stop writers`: the services that write to the databases on their own
   (nova-conductor/scheduler/cert/consoleauth, cinder-scheduler/volume/backup,
   heat-engine), through pacemaker when it runs them, through upstart
   otherwise. What stays: every API (GET must work: nova-api, keystone,
   neutron-server, glance-api and glance-registry, which serves glance v1's
   reads, cinder-api, heat-api/-cfn), the data-plane agents (L3, DHCP,
   metadata, OVS: the VMs' network; they write only through neutron-server,
   which step 4 stops from writing), and the cluster infrastructure (MySQL,
   HAProxy, RabbitMQ, VIPs, DNS, NTP, conntrackd, vrouter: stopping it is what
   broke clusters under the original tooling; `_check_not_infrastructure`
   refuses it whatever the lists say).
4. `mysql read-only`: `read_only=ON` on every original controller's MySQL:
   any writer left is refused by the database itself (root, which the dump
   runs as, is not bound by it; the dump uses --lock-all-tables).
5. `dump`: the service databases that exist, dumped on an original controller
   (pipefail), fetched to the workspace on the master (0600), sha256 and the
   per-table row counts at dump time recorded. Rows that move during the dump
   mean a writer still writes: refused (the step runs again on a re-run).
6. `test-restore`: the master's copy restored into scratch databases on the
   seed controller, row counts compared with the dump-time counts, scratch
   dropped (runbook.procedure.dbcopy). Only a dump proved to restore is used.
7. `stop seed services`: on the seed controllers, every pacemaker resource but
   the infrastructure, the upstart jobs of the six services and apache2
   (Kilo's keystone): nothing of the seed touches its databases while they
   are replaced and migrated.
8. `restore`: the same file (re-checked against its sha256) loaded into the
   seed's MySQL; the seed's row counts must equal the dump-time counts.
9. `db sync <service>`, in the spec's order keystone, nova, heat, glance,
   neutron, cinder; then `schema versions`: each must be the target release's
   (Kilo's, from `runbook.plugins.path_61_70`).
10. `discard seed copy`: the dump's copy on the seed controller is removed (it
    holds every password hash); the master keeps its copy.

Once the seed restore has started the dump is never taken again: its step is
done, and a missing or altered master copy is then an error, not a reason to
dump. Before that, an operator who deletes a bad master copy gets a fresh
dump on the next run (the original is still frozen: nothing is lost).

Maintenance is not left automatically on failure: writes accepted after the
dump would be lost to the seed. The error and the journal (fact
`orig_maintenance`) say how to leave it (`leave_maintenance`: HAProxy normal,
read_only off, the stopped writers started again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tenacity import RetryError, retry_if_exception_type, stop_after_delay, wait_fixed

from runbook.errors import OctaneError
from runbook.journal import PENDING, Stage
from runbook.lib import db, haproxy, pacemaker, upstart, waits
from runbook.lib.ssh import SSHPool
from runbook.plugins import manager
from runbook.procedure import dbcopy, prepare
from runbook.procedure.context import Context, Hook, raise_fan_out, run_step

log = logging.getLogger(__name__)

STAGE = "stage3_upgrade_db"
REQUIRES = "stage2_upgrade_env"
SEED_FACT, CONTROLLERS_FACT = "seed_env_id", "seed_controllers"  # recorded by stage 2
MAINTENANCE_FACT = "orig_maintenance"
SEED_STOPPED_FACT = "seed_stopped_services"
DUMP_FACT = "db_dump"
DUMP_FILE = "upgrade-db.sql.gz"

# Services of the original that write to the databases by themselves.
WRITER_JOBS = ("nova-conductor", "nova-scheduler", "nova-cert", "nova-consoleauth",
               "cinder-scheduler", "cinder-volume", "cinder-backup", "heat-engine")
# Never stopped, on either env: the cluster's infrastructure. Pacemaker resources named with one of
# these (the spec's list, matched inside the name as the original tooling did: ping_vip__public too)...
INFRASTRUCTURE = ("mysql", "haproxy", "dns", "ntp", "vip", "conntrackd", "rabbitmq", "vrouter")
# ...and the jobs of the node's own plumbing (matched at the start of the name).
PLUMBING = ("corosync", "pacemaker", "memcached", "openvswitch-switch", "ceph", "ssh")
# On the seed: the jobs of the six services, and apache2 (Kilo's keystone runs in it).
SEED_SERVICE_PREFIXES = ("nova-", "keystone", "heat-", "neutron-", "cinder-", "glance-")
SEED_EXTRA_JOBS = ("apache2",)
SYNC_ORDER = ("keystone", "nova", "heat", "glance", "neutron", "cinder")
STOP_TIMEOUT = 300.0  # seconds for pacemaker to stop what it was told to
STOP_POLL = 2.0


class UpgradeDbError(OctaneError):
    """upgrade-db cannot go on: what is wrong, and what to do."""


# --------------------------------------------------------------------------- names


def _bare(name: str) -> str:
    return name[2:] if name.startswith("p_") else name


def is_infrastructure(name: str) -> bool:
    """A job or pacemaker resource of the cluster's infrastructure (never stopped by upgrade-db)."""
    return any(word in name for word in INFRASTRUCTURE) or _bare(name).startswith(PLUMBING)


def _check_not_infrastructure(names: Iterable[str]) -> None:
    bad = sorted(n for n in names if is_infrastructure(n))
    if bad:
        raise UpgradeDbError(f"refusing to stop cluster infrastructure: {', '.join(bad)}",
                             "this is a bug of the service lists in runbook.procedure.upgrade_db: report it")


def is_seed_service(job: str) -> bool:
    return (job.startswith(SEED_SERVICE_PREFIXES) or job in SEED_EXTRA_JOBS) and not is_infrastructure(job)


def target_versions() -> dict[str, int | str]:
    found = manager().hook.schema_versions()
    if not found:
        raise UpgradeDbError("no upgrade path plugin names the target schema versions",
                             "register the upgrade path's plugin (runbook.plugins)")
    return dict(found)


# --------------------------------------------------------------------------- 1. preconditions


def preconditions(ctx: Context) -> dict[str, Any]:
    """What the stage works on, checked before anything changes."""
    try:
        seed = int(ctx.journal.fact(SEED_FACT))
        seed_controllers = list(ctx.journal.fact(CONTROLLERS_FACT))
    except OctaneError:
        raise UpgradeDbError("the journal has no seed env or seed controllers",
                             "run upgrade-env (stage2) first") from None
    if not seed_controllers:
        raise UpgradeDbError(f"seed env {seed} has no controller in the journal", "run upgrade-env (stage2) again")
    controllers = ctx.facts.controllers()
    versions = target_versions()
    workspace = prepare.workspace(ctx)
    restore_node = seed_controllers[0]
    wsrep = db.wsrep_status(ctx.pool, restore_node)
    if wsrep.get("wsrep_ready") != "ON":
        raise UpgradeDbError(f"{restore_node}'s MySQL is not ready in the seed's Galera cluster: "
                             f"{ {k: wsrep.get(k) for k in ('wsrep_ready', 'wsrep_cluster_status')} }",
                             "bring the seed's cluster up (crm status on the seed controllers), then re-run")
    return {"seed_env_id": seed, "seed_controllers": seed_controllers, "original_controllers": controllers,
            "dump_node": controllers[0], "restore_node": restore_node, "workspace": str(workspace),
            "target_versions": versions}


# --------------------------------------------------------------------------- 2-4. freeze the original


def enter_read_only(ctx: Context, controllers: list[str]) -> dict[str, list[str]]:
    """Write the read-only HAProxy mode on every original controller; the files each one changed."""
    _note_maintenance(ctx, controllers)
    seen = ctx.pool.fan_out(controllers, lambda node: haproxy.set_mode(ctx.pool, node, "read-only"))
    _raise_fan_out(seen.errors, "writing HAProxy's read-only mode")
    return {node: seen.results[node] for node in controllers}


def restart_haproxy(ctx: Context, controllers: list[str]) -> dict[str, Any]:
    """One restart of the p_haproxy clone loads the mode everywhere; HAProxy must run on every controller."""
    haproxy.restart(ctx.pool, controllers[0])
    modes = {node: haproxy.current_mode(ctx.pool, node) for node in controllers}
    placed = _placements(ctx.pool, controllers[0], haproxy.RESOURCE)
    missing = sorted(set(controllers) - set(placed))
    if missing or set(modes.values()) != {"read-only"}:
        raise UpgradeDbError(f"HAProxy after the restart: runs on {placed}, modes {modes}",
                             "check p_haproxy (crm status) and /etc/haproxy on the controllers named, then re-run")
    return {"modes": modes, "haproxy_on": placed}


def _placements(pool: SSHPool, node: str, resource: str) -> list[str]:
    return sorted(p["node"] for p in pacemaker.status(pool, node)["resources"].get(resource, []))


def stop_writers(ctx: Context, controllers: list[str]) -> dict[str, Any]:
    """Stop the original's writer services; what was stopped (pacemaker sets, upstart jobs per node)."""
    status = pacemaker.status(ctx.pool, controllers[0])
    managed = [f"p_{job}" for job in WRITER_JOBS if f"p_{job}" in status["resources"]]
    by_pacemaker = [status["clones"].get(res, res) for res in managed if status["resources"][res]]
    by_upstart = {job for job in WRITER_JOBS if f"p_{job}" not in status["resources"]}
    plan = {"pacemaker": by_pacemaker, "upstart": _running(ctx.pool, controllers, by_upstart.__contains__)}
    _stop(ctx, controllers[0], plan, MAINTENANCE_FACT)
    wait_stopped(ctx.pool, controllers, set(WRITER_JOBS), "the original's writers")
    return plan


def _running(pool: SSHPool, nodes: list[str], wanted: Callable[[str], bool]) -> dict[str, list[str]]:
    """{node: the wanted jobs running there (upstart's view)}."""
    seen = pool.fan_out(nodes, lambda node: sorted(j for j, on in upstart.jobs(pool, node).items()
                                                   if on and wanted(j)))
    _raise_fan_out(seen.errors, "listing the services")
    return {node: seen.results[node] for node in nodes}


def _stop(ctx: Context, node: str, plan: dict[str, Any], fact: str) -> None:
    """Journal what will be stopped (so rollback can start it even if this fails half-way), then stop it:
    pacemaker sets through `node`, upstart jobs on their nodes."""
    _check_not_infrastructure([*plan["pacemaker"], *(j for jobs in plan["upstart"].values() for j in jobs)])
    _remember_stopped(ctx, fact, plan)
    for name in plan["pacemaker"]:
        pacemaker.resource_stop(ctx.pool, node, name)
    done = ctx.pool.fan_out(plan["upstart"], lambda n: [upstart.stop(ctx.pool, n, job) for job in plan["upstart"][n]])
    _raise_fan_out(done.errors, "stopping services")


class _StillRunning(Exception):
    """Jobs still running (retried by `wait_stopped`)."""


def wait_stopped(pool: SSHPool, nodes: list[str], jobs: set[str] | Callable[[str], bool], what: str) -> None:
    """Until none of `jobs` runs on any node (pacemaker stops asynchronously); a timeout names them."""
    matches = jobs if callable(jobs) else jobs.__contains__

    def still_running() -> dict[str, list[str]]:
        return {n: sorted(j for j, on in upstart.jobs(pool, n).items() if on and matches(j)) for n in nodes}

    try:
        for attempt in waits.retrying(f"{what} to stop on {', '.join(nodes)}", stop=stop_after_delay(STOP_TIMEOUT),
                                      wait=wait_fixed(STOP_POLL), retry=retry_if_exception_type(_StillRunning),
                                      reraise=False):
            with attempt:
                left = {n: jobs_ for n, jobs_ in still_running().items() if jobs_}
                if left:
                    raise _StillRunning(left)
    except RetryError as exc:
        left = exc.last_attempt.exception()
        raise UpgradeDbError(f"{what} still run {STOP_TIMEOUT:.0f} s after being stopped: {left}",
                             "stop them by hand (crm resource stop / stop JOB), find what restarts them, "
                             "then re-run") from None


def read_only_on(ctx: Context, controllers: list[str]) -> dict[str, bool]:
    """`read_only=ON` on every original controller's MySQL, read back."""
    def set_on(node: str) -> bool:
        db.set_read_only(ctx.pool, node, True)
        return db.read_only(ctx.pool, node)

    seen = ctx.pool.fan_out(controllers, set_on)
    _raise_fan_out(seen.errors, "setting MySQL read_only")
    off = sorted(node for node, on in seen.results.items() if not on)
    if off:
        raise UpgradeDbError(f"MySQL read_only did not take on {', '.join(off)}",
                             "check `SHOW GLOBAL VARIABLES LIKE 'read_only'` there, then re-run")
    return {node: seen.results[node] for node in controllers}


# --------------------------------------------------------------------------- 5-6. dump and prove it


def dump(ctx: Context, node: str, path: Path) -> dict[str, Any]:
    """Dump the service databases of the frozen original to the master; refused if rows moved meanwhile."""
    dbs = dbcopy.service_databases(ctx.pool, node)
    record = dbcopy.take(ctx.pool, node, dbs, path)
    moved = dbcopy.moved(record["counts_before"], record["counts"])
    if moved:
        path.unlink(missing_ok=True)
        raise UpgradeDbError(f"rows changed on {node} while the dump was taken ({'; '.join(moved[:10])}): "
                             "something still writes to the original's databases",
                             "find the writer (SHOW PROCESSLIST on the controllers, services running), stop it, "
                             "then re-run upgrade-db: the dump is taken again")
    ctx.journal.fact(DUMP_FACT, {k: record[k] for k in ("node", "dbs", "path", "sha256", "bytes")})
    return record


def _dump_steps(stage: Stage) -> tuple[str, str]:
    """The names of the current dump and its test-restore: a new pair only when the operator removed a
    done dump's master copy before the seed restore started (see the module's docstring)."""
    n = 1
    while stage.step_status(_numbered("dump", n + 1)) != PENDING:
        n += 1
    current = _numbered("dump", n)
    record = stage.record["steps"].get(current, {})
    if record.get("status") == "done" and not Path(record["result"]["path"]).exists() \
            and stage.step_status("restore") == PENDING:
        n += 1
    return _numbered("dump", n), _numbered("test-restore", n)


def _numbered(name: str, n: int) -> str:
    return name if n == 1 else f"{name} #{n}"


# --------------------------------------------------------------------------- 7-10. the seed


def stop_seed_services(ctx: Context, seed_controllers: list[str]) -> dict[str, Any]:
    """Stop everything of the seed but its infrastructure; what was stopped."""
    status = pacemaker.status(ctx.pool, seed_controllers[0])
    resources = [res for res, placed in status["resources"].items() if placed and not is_infrastructure(res)]
    managed = {_bare(res) for res in status["resources"]}
    plan = {"pacemaker": sorted({status["clones"].get(res, res) for res in resources}),
            "upstart": _running(ctx.pool, seed_controllers, lambda job: is_seed_service(job) and job not in managed)}
    _stop(ctx, seed_controllers[0], plan, SEED_STOPPED_FACT)
    wait_stopped(ctx.pool, seed_controllers, is_seed_service, "the seed's services")
    return plan


def restore(ctx: Context, node: str, record: dict[str, Any]) -> dict[str, Any]:
    """Load the recorded dump into the seed's MySQL; its row counts must be the dump-time counts."""
    remote = dbcopy.upload(ctx.pool, node, record)
    db.restore(ctx.pool, node, remote)
    restored = dbcopy.row_counts(ctx.pool, node, record["dbs"])
    problems = dbcopy.compare(restored, record["counts"], record["counts"])
    if problems:
        raise UpgradeDbError(f"the seed's databases on {node} differ from the dump after the restore: "
                             f"{'; '.join(problems[:10])}",
                             "check the restore's output and the seed's MySQL (disk, Galera), then re-run: "
                             "the restore runs again from the same dump")
    return {"node": node, "tables": sum(len(t) for t in restored.values()),
            "rows": sum(sum(t.values()) for t in restored.values())}


def sync(ctx: Context, node: str, service: str) -> int | str:
    """`<service>-manage db sync` on the seed; the schema version it left."""
    db.db_sync(ctx.pool, node, service)
    return db.schema_version(ctx.pool, node, service)


def check_versions(ctx: Context, node: str, dbs: list[str], wanted: dict[str, int | str]) -> dict[str, Any]:
    found = {service: db.schema_version(ctx.pool, node, service) for service in SYNC_ORDER if service in dbs}
    wrong = {s: f"{v} (want {wanted.get(s)})" for s, v in found.items() if v != wanted.get(s)}
    if wrong:
        raise UpgradeDbError(f"schema versions on {node} after db sync are not the target release's: {wrong}",
                             "read the sync's output (journal evidence), fix the database or the service's "
                             "config on the seed, then re-run: the syncs run again")
    return found


# --------------------------------------------------------------------------- helpers


def _raise_fan_out(errors: dict[str, BaseException], what: str) -> None:
    raise_fan_out(errors, what, UpgradeDbError, "fix the nodes named, then re-run: the step runs again where it is not done")


def _remember_stopped(ctx: Context, fact: str, stopped: dict[str, Any]) -> None:
    """Keep what was stopped in a fact that survives the stage's record: rollback starts exactly that."""
    try:
        known = dict(ctx.journal.fact(fact))
    except OctaneError:
        known = {}
    pcs = sorted(set(known.get("stopped", {}).get("pacemaker", [])) | set(stopped["pacemaker"]))
    jobs = {node: sorted(set(known.get("stopped", {}).get("upstart", {}).get(node, [])) | set(listed))
            for node, listed in stopped["upstart"].items()}
    ctx.journal.fact(fact, {**known, "stopped": {"pacemaker": pcs, "upstart": jobs}})


def how_to_leave(env_id: int) -> str:
    return (f"To leave maintenance on env {env_id} instead (writes accepted afterwards will not reach the seed "
            "unless upgrade-db dumps again): runbook.procedure.upgrade_db.leave_maintenance(ctx) sets HAProxy "
            f"back to normal, MySQL read_only off and starts the writers listed in the journal fact {MAINTENANCE_FACT!r}")


def _note_maintenance(ctx: Context, controllers: list[str]) -> None:
    try:
        known = dict(ctx.journal.fact(MAINTENANCE_FACT))
    except OctaneError:
        known = {}
    if known.get("active"):
        return
    ctx.journal.fact(MAINTENANCE_FACT, {**known, "active": True, "since": time.time(), "controllers": controllers,
                                        "leave": how_to_leave(ctx.env_id)})


# --------------------------------------------------------------------------- the stage


def run(ctx: Context, step_hook: Hook | None = None) -> dict[str, Any]:
    """upgrade-db: the original frozen, dumped, the dump proved, restored on the seed and synced to Kilo."""
    env_id = ctx.facts.env()["id"]
    hook = step_hook or (lambda name, result: None)
    inputs = {"env_id": env_id, "seed_env_id": _recorded_seed(ctx)}
    with ctx.journal.stage(STAGE, inputs=inputs, requires=[REQUIRES]) as stage:
        pre = run_step(stage, hook, "preconditions", preconditions, ctx)
        originals, seeds = pre["original_controllers"], pre["seed_controllers"]
        try:
            _freeze(stage, hook, ctx, originals)
            dump_step, check_step = _dump_steps(stage)
            record = run_step(stage, hook, dump_step, dump, ctx, pre["dump_node"],
                           Path(pre["workspace"]) / DUMP_FILE)
            run_step(stage, hook, check_step, lambda: dbcopy.restore_check(ctx.pool, pre["restore_node"], record,
                                                                         keep_upload=True))
            run_step(stage, hook, "stop seed services", stop_seed_services, ctx, seeds)
            run_step(stage, hook, "restore", restore, ctx, pre["restore_node"], record)
            for service in SYNC_ORDER:
                if service in record["dbs"]:
                    run_step(stage, hook, f"db sync {service}", sync, ctx, pre["restore_node"], service)
            versions = run_step(stage, hook, "schema versions", check_versions, ctx, pre["restore_node"],
                             record["dbs"], pre["target_versions"])
            run_step(stage, hook, "discard seed copy", dbcopy.discard, ctx.pool, pre["restore_node"], record)
        except OctaneError as exc:
            raise UpgradeDbError(
                f"{exc.message} — env {env_id} stays in read-only maintenance (APIs refuse writes, writers "
                "stopped, MySQL read_only)",
                f"{exc.fix or 'fix the cause'}; then re-run upgrade-db: it continues from the failed step. "
                + how_to_leave(env_id) + ".") from exc
        return {"seed_env_id": pre["seed_env_id"], "dump": {k: record[k] for k in ("path", "sha256", "bytes")},
                "versions": versions}


def _recorded_seed(ctx: Context) -> int | None:
    try:
        return int(ctx.journal.fact(SEED_FACT))
    except OctaneError:
        return None


def _freeze(stage: Stage, hook: Hook, ctx: Context, controllers: list[str]) -> None:
    run_step(stage, hook, "maintenance: haproxy read-only", enter_read_only, ctx, controllers)
    run_step(stage, hook, "maintenance: restart p_haproxy", restart_haproxy, ctx, controllers)
    run_step(stage, hook, "stop writers", stop_writers, ctx, controllers)
    run_step(stage, hook, "mysql read-only", read_only_on, ctx, controllers)


# --------------------------------------------------------------------------- reads for the tests and rollback


def step_result(ctx: Context, name: str) -> Any:
    """The recorded result of a done step of this stage (None when it is not done)."""
    step = ctx.journal.stage_record(STAGE).get("steps", {}).get(name, {})
    return step.get("result") if step.get("status") == "done" else None


def recorded_dump(ctx: Context) -> dict[str, Any] | None:
    """The dump the seed was (or will be) restored from: the latest done dump step's record."""
    steps = ctx.journal.stage_record(STAGE).get("steps", {})
    done = [name for name, step in steps.items() if name.split(" #")[0] == "dump" and step.get("status") == "done"]
    return steps[done[-1]]["result"] if done else None


def recorded_test_restore(ctx: Context) -> dict[str, Any] | None:
    steps = ctx.journal.stage_record(STAGE).get("steps", {})
    done = [name for name, step in steps.items()
            if name.split(" #")[0] == "test-restore" and step.get("status") == "done"]
    return steps[done[-1]]["result"] if done else None


def leave_maintenance(ctx: Context) -> dict[str, Any]:
    """Undo the original's freeze (rollback, or an operator giving up): HAProxy normal, read_only off,
    the writers upgrade-db stopped started again. Idempotent."""
    known = dict(ctx.journal.fact(MAINTENANCE_FACT))
    controllers = list(known.get("controllers") or ctx.facts.controllers())
    seen = ctx.pool.fan_out(controllers, lambda node: haproxy.set_mode(ctx.pool, node, "normal"))
    _raise_fan_out(seen.errors, "writing HAProxy's normal mode")
    haproxy.restart(ctx.pool, controllers[0])
    seen_ro = ctx.pool.fan_out(controllers, lambda node: db.set_read_only(ctx.pool, node, False))
    _raise_fan_out(seen_ro.errors, "setting MySQL read_only off")
    stopped = known.get("stopped", {"pacemaker": [], "upstart": {}})
    for name in stopped.get("pacemaker", []):
        pacemaker.resource_start(ctx.pool, controllers[0], name)
    for node, jobs in stopped.get("upstart", {}).items():
        for job in jobs:
            upstart.start(ctx.pool, node, job)
    ctx.journal.fact(MAINTENANCE_FACT, {**known, "active": False, "left": time.time()})
    return {"controllers": controllers, "started": stopped}
