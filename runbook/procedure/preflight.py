"""Stage 0, preflight: every precondition of the upgrade, then the baseline. Changes nothing.

All checks are evaluated (a failing one does not hide the others); each is a
journal step holding its evidence. When any fails, the run raises one
PreflightError naming every problem and its fix, and no baseline is taken.
When all pass, the baseline (every cloud.BASELINE reader's output, row counts
per service DB table, Ceph fsid / OSD ids / pool object counts, the env as Fuel
describes it: `fuelstate.env_state`) is written as
JSON, private to its owner, beside the journal.

Checks come from the plugins (runbook.plugins: upgrade path, Ceph, Neutron
VLAN) and from this module (the env's shape, free nodes, health).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runbook import redact
from runbook.errors import OctaneError, PreflightError
from runbook.journal import DONE
from runbook.lib import ceph, cloud, db, pacemaker
from runbook.plugins import CheckSpec, manager
from runbook.procedure import fuelstate
from runbook.procedure.context import Context

log = logging.getLogger(__name__)
STAGE = "stage0_preflight"
CONTROLLERS = 3  # an HA env has 3; the seed gets as many new servers
MAX_EXTRA_SERVERS = 3
HYPERVISOR = "kvm"
SERVICES = tuple(db.TOOLS)  # nova, keystone, cinder, glance, heat, neutron
BASELINE_FILE = "baseline.json"
BACKUP_FILE = "db-backup-preflight.sql.gz"  # beside the journal: preflight runs before prepare's workspace
RESULTS_FACT = "preflight_checks"
BASELINE_FACT = "baseline_file"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    problem: str = ""
    fix: str = ""
    evidence: Any = None


# --------------------------------------------------------------------------- env shape


def env_exists(ctx: Context) -> dict[str, Any]:
    env = ctx.facts.env()
    return {k: env.get(k) for k in ("id", "name", "status", "mode", "fuel_version", "release_id")}


def env_operational(ctx: Context) -> dict[str, Any]:
    env = ctx.facts.env()
    if env.get("status") != "operational":
        raise PreflightError(f"env {env['id']} is {env.get('status')}, not operational",
                             "finish or fix the env's deployment (fuel task list) until it is operational")
    return {"status": env["status"]}


def env_ha(ctx: Context) -> dict[str, Any]:
    env = ctx.facts.env()
    if env.get("mode") != "ha_compact":
        raise PreflightError(f"env {env['id']} is in mode {env.get('mode')}, not ha_compact",
                             "only HA envs (3 controllers) can be upgraded with this procedure")
    ready = [n["hostname"] for n in ctx.facts.env_nodes()
             if "controller" in (n.get("roles") or []) and n.get("status") == "ready" and n.get("online")]
    if len(ready) != CONTROLLERS:
        raise PreflightError(f"env {env['id']} has {len(ready)} ready online controllers "
                             f"({', '.join(ready) or 'none'}), not {CONTROLLERS}",
                             f"bring the env to {CONTROLLERS} ready controllers before upgrading")
    return {"mode": env["mode"], "controllers": sorted(ready)}


def env_ubuntu(ctx: Context) -> dict[str, Any]:
    env = ctx.facts.env()
    release = next((r for r in ctx.facts.releases() if r["id"] == env.get("release_id")), {})
    if (release.get("operating_system") or "").lower() != "ubuntu":
        raise PreflightError(f"env {env['id']} runs {release.get('operating_system')}, not Ubuntu",
                             "this procedure upgrades Ubuntu envs only")
    seen = ctx.pool.fan_out(ctx.facts.controllers(), lambda node: ctx.pool.check(
        node, "cat /etc/lsb-release", timeout=30).stdout)
    found = {}
    for node in ctx.facts.controllers():
        text = seen.results.get(node)
        if text is None:
            raise PreflightError(f"{node}: its OS cannot be read: {seen.errors.get(node)}",
                                 f"check SSH to {node}")
        info = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        found[node] = f"{info.get('DISTRIB_ID')} {info.get('DISTRIB_RELEASE')}"
        if info.get("DISTRIB_ID") != "Ubuntu":
            raise PreflightError(f"{node} runs {found[node]}, not Ubuntu (its /etc/lsb-release)",
                                 f"reinstall {node} from the env's Ubuntu release")
    return {"release_os": release.get("operating_system"), "nodes": found}


def env_kvm(ctx: Context) -> dict[str, Any]:
    hypervisor = ctx.facts.attributes().get("common", {}).get("libvirt_type", {}).get("value")
    if hypervisor != HYPERVISOR:
        raise PreflightError(f"env {ctx.env_id} uses the {hypervisor} hypervisor, not {HYPERVISOR}",
                             "this procedure upgrades KVM envs only")
    return {"libvirt_type": hypervisor}


def free_nodes(ctx: Context) -> dict[str, Any]:
    """The seed's controllers are new servers: as many as the env has controllers, at most 3."""
    free = [n["hostname"] for n in ctx.facts.nodes() if n.get("cluster") is None
            and n.get("status") == "discover" and n.get("online")]
    if len(free) < CONTROLLERS:
        raise PreflightError(f"{len(free)} unallocated discovered nodes ({', '.join(free) or 'none'}); "
                             f"the seed env needs {CONTROLLERS}",
                             f"boot {CONTROLLERS - len(free)} more server(s) into Fuel's bootstrap "
                             "(or remove nodes from unused envs)")
    return {"free": free, "needed": CONTROLLERS, "extra_servers": min(CONTROLLERS, MAX_EXTRA_SERVERS)}


# --------------------------------------------------------------------------- health


def galera_synced(ctx: Context) -> dict[str, Any]:
    controllers = ctx.facts.controllers()
    seen = ctx.pool.fan_out(controllers, lambda node: db.wsrep_status(ctx.pool, node))
    evidence, bad = {}, []
    for node in controllers:
        if node in seen.errors:
            bad.append(f"{node}: MySQL does not answer ({seen.errors[node]})")
            continue
        wsrep = seen.results[node]
        evidence[node] = {k: wsrep.get(k) for k in ("wsrep_local_state_comment", "wsrep_cluster_size",
                                                     "wsrep_cluster_status", "wsrep_ready")}
        if wsrep.get("wsrep_local_state_comment") != "Synced" or wsrep.get("wsrep_ready") != "ON" \
                or wsrep.get("wsrep_cluster_size") != str(len(controllers)):
            bad.append(f"{node}: {evidence[node]}")
    if bad:
        raise PreflightError("Galera is not synced on every controller: " + "; ".join(bad),
                             "bring every controller's MySQL back into the cluster (crm status clone_p_mysql)")
    return evidence


def pacemaker_started(ctx: Context) -> dict[str, Any]:
    node = ctx.facts.controllers()[0]
    status = pacemaker.status(ctx.pool, node)
    offline = sorted(name for name, online in status["nodes"].items() if not online)
    stopped = sorted(name for name, placed in status["resources"].items() if not placed)
    if not status["quorum"] or offline or stopped:
        raise PreflightError(f"pacemaker (seen from {node}): quorum {status['quorum']}, offline nodes "
                             f"{offline or 'none'}, stopped resources {stopped or 'none'}",
                             "start them (crm resource start NAME; pcs cluster start) and clean up failures")
    return {"node": node, "nodes": status["nodes"],
            "resources": {k: sorted(p["node"] for p in v) for k, v in status["resources"].items()}}


def _agents(ctx: Context) -> list[dict[str, Any]]:
    conn = ctx.cloud()
    return cloud.call(conn, "GET v2.0/agents", lambda: [
        {"id": a.id, "binary": a.binary, "host": a.host, "alive": a.is_alive, "up": a.is_admin_state_up}
        for a in conn.network.agents()])


def services_up(ctx: Context) -> dict[str, Any]:
    services = cloud.compute_services(ctx.cloud())
    agents = _agents(ctx)
    down = [f"{s['binary']}@{s['host']}" for s in services if s["state"] != "up"]
    # Some controller agents (dhcp) run active/passive under pacemaker: a dead one on a
    # controller is fine while the same agent lives on another controller. Elsewhere
    # (computes), every agent must live.
    controllers = {h for h in ctx.facts.controllers()}
    alive_on_controllers = {a["binary"] for a in agents if a["alive"] and _short(a["host"]) in controllers}
    down += [f"{a['binary']}@{a['host']}" for a in agents if not a["alive"]
             and (_short(a["host"]) not in controllers or a["binary"] not in alive_on_controllers)]
    if down:
        raise PreflightError(f"services down in env {ctx.env_id}: {', '.join(sorted(down))}",
                             "start them on their nodes (service NAME start / crm resource start) and re-run")
    return {"nova": sorted(f"{s['binary']}@{s['host']}" for s in services),
            "neutron": sorted(f"{a['binary']}@{a['host']}" for a in agents)}


def _short(host: str) -> str:
    return str(host).split(".")[0]


def no_error_vms(ctx: Context) -> dict[str, Any]:
    servers = cloud.servers(ctx.cloud())
    broken = [f"{s['id']} ({s['name']})" for s in servers if s["status"] == "ERROR"]
    if broken:
        raise PreflightError(f"{len(broken)} VM(s) in ERROR: {', '.join(broken)}",
                             "repair or delete them (nova reset-state / delete) before upgrading")
    return {"servers": len(servers), "by_status": _count(s["status"] for s in servers)}


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return out


def db_backup(ctx: Context) -> dict[str, Any]:
    """A backup of the service databases exists before anything changes, and is proved to restore:
    dumped from the first controller to the master (0600, beside the journal), test-restored into
    scratch databases on that controller, counts compared, scratch dropped (runbook.procedure.dbcopy)."""
    from runbook.procedure import dbcopy

    node = ctx.facts.controllers()[0]
    dbs = dbcopy.service_databases(ctx.pool, node)
    record = dbcopy.take(ctx.pool, node, dbs, backup_path(ctx))
    restored = dbcopy.restore_check(ctx.pool, node, record)
    return {**{k: record[k] for k in ("node", "dbs", "path", "sha256", "bytes")},
            "written_during_dump": dbcopy.moved(record["counts_before"], record["counts"]),
            "test_restore": {k: restored[k] for k in ("node", "scratch", "tables", "rows")}}


def backup_path(ctx: Context) -> Path:
    return ctx.journal.folder / BACKUP_FILE


CORE_CHECKS = [
    CheckSpec("env_exists", env_exists, "the env exists"),
    CheckSpec("env_operational", env_operational, "the env is operational"),
    CheckSpec("env_ha", env_ha, f"ha_compact with {CONTROLLERS} ready controllers"),
    CheckSpec("env_ubuntu", env_ubuntu, "the env runs Ubuntu"),
    CheckSpec("env_kvm", env_kvm, "the env's hypervisor is KVM"),
    CheckSpec("free_nodes", free_nodes, f"{CONTROLLERS} unallocated discovered nodes for the seed"),
    CheckSpec("galera_synced", galera_synced, "Galera synced on every controller"),
    CheckSpec("pacemaker_started", pacemaker_started, "every pacemaker resource started"),
    CheckSpec("services_up", services_up, "every nova service and neutron agent up"),
    CheckSpec("no_error_vms", no_error_vms, "no VM in ERROR"),
    CheckSpec("db_backup", db_backup, "service DBs dumped to the master and test-restored"),
]


def checks() -> list[CheckSpec]:
    """Every check, core first then the plugins', in a stable order with unique names."""
    found = list(CORE_CHECKS)
    for contributed in manager().hook.preflight_checks():
        found.extend(contributed)
    names = [c.name for c in found]
    if len(set(names)) != len(names):
        raise OctaneError(f"preflight checks with the same name: {names}", "rename the plugin's checks")
    return sorted(found, key=lambda c: _ORDER.get(c.name, len(_ORDER)))


_ORDER = {name: i for i, name in enumerate((
    "release_pair", "master_version", "env_exists", "env_release", "not_in_upgrade", "env_operational",
    "env_ha", "ceph_storage", "neutron_vlan", "env_ubuntu", "env_kvm", "free_nodes", "galera_synced",
    "pacemaker_started", "ceph_health", "services_up", "no_error_vms", "db_backup"))}


def evaluate(ctx: Context, check: CheckSpec) -> CheckResult:
    try:
        return CheckResult(check.name, True, evidence=check.fn(ctx))
    except OctaneError as exc:  # a refusal, or the read that should have answered failed
        return CheckResult(check.name, False, problem=redact.redact(exc.message), fix=exc.fix or "")


# --------------------------------------------------------------------------- baseline


def baseline(ctx: Context) -> dict[str, Any]:
    """The state later stages must preserve; plain data that compares with `==`."""
    conn = ctx.cloud()
    node = ctx.facts.controllers()[0]
    have = set(db.databases(ctx.pool, node))
    out: dict[str, Any] = {"env_id": ctx.env_id, "cloud": {}, "db_rows": {}, "ceph": {},
                           "fuel": fuelstate.env_state(ctx.fuel, ctx.env_id)}
    for name, reader in cloud.BASELINE.items():
        out["cloud"][name] = reader(conn)
    for service in SERVICES:
        if service in have:
            out["db_rows"][service] = db.row_counts(ctx.pool, node, service)
    df = json.loads(ctx.pool.check(node, f"ceph --connect-timeout {ceph.CONNECT_TIMEOUT} df -f json",
                                   timeout=ceph.CONNECT_TIMEOUT + 60).stdout)
    out["ceph"] = {"fsid": ceph.fsid(ctx.pool, node),
                   "osd_ids": [o["id"] for o in ceph.osd_tree(ctx.pool, node)],
                   "pool_objects": {p["name"]: p["stats"]["objects"] for p in df.get("pools", [])}}
    return out


def baseline_path(ctx: Context) -> Path:
    return ctx.journal.folder / BASELINE_FILE


def _write_private(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- run


def run(ctx: Context, step_hook: Callable[[str, Any], Any] | None = None) -> dict[str, Any]:
    """Evaluate every check, then take the baseline; the baseline, or PreflightError naming each failure.

    `step_hook(name, evidence)` is called per check (the stage attaches it to its report).
    Preflight changes nothing, so a re-run evaluates everything afresh: the stage's old
    record is dropped first — until the upgrade has started. Once a later stage has run,
    the env is mid-upgrade (read-only APIs, a seed env exist on purpose) and the baseline
    taken before the start is what every later stage compares with: preflight then keeps
    its passed record and baseline, and acts on nothing.
    """
    if upgrade_started(ctx):
        log.info("env %s: the upgrade has started (%s); keeping preflight's record and baseline",
                 ctx.env_id, ", ".join(ctx.journal.stage_names()))
        return recorded_baseline(ctx)
    ctx.journal.reset(STAGE)
    with ctx.journal.stage(STAGE, inputs={"env_id": ctx.env_id}) as stage:
        results = []
        for check in checks():
            result = evaluate(ctx, check)
            results.append(result)
            try:
                with stage.step(f"check {check.name}") as step:
                    step.evidence(check.name, json.dumps(result.evidence if result.ok else asdict(result),
                                                         default=str, indent=1))
                    step.result = asdict(result)
                    if not result.ok:
                        raise PreflightError(result.problem, result.fix)
            except PreflightError:
                pass  # recorded as a failed step; every check still runs
            if step_hook is not None:
                step_hook(check.name, asdict(result))
        ctx.journal.fact(RESULTS_FACT, {r.name: asdict(r) for r in results})
        failed = [r for r in results if not r.ok]
        if failed:
            raise PreflightError(
                f"preflight refused env {ctx.env_id}: "
                + "; ".join(f"[{r.name}] {r.problem} (fix: {r.fix})" for r in failed),
                "fix each problem above and run preflight again; nothing was changed")
        with stage.step("baseline") as step:
            data = baseline(ctx)
            path = baseline_path(ctx)
            _write_private(path, data)
            step.evidence("baseline", json.dumps({k: len(v) for k, v in data["cloud"].items()}))
            step.result = str(path)
        ctx.journal.fact(BASELINE_FACT, str(path))
        return data


def upgrade_started(ctx: Context) -> bool:
    """Preflight passed and a later stage has run since."""
    ctx.journal.refresh()
    return ctx.journal.stage_status(STAGE) == DONE and any(name != STAGE for name in ctx.journal.stage_names())


def recorded_results(ctx: Context) -> dict[str, dict[str, Any]]:
    """The check results of the last run (for --validate-only)."""
    return ctx.journal.fact(RESULTS_FACT)


def recorded_baseline(ctx: Context) -> dict[str, Any]:
    """The baseline of the last successful run, read back from its file."""
    path = Path(ctx.journal.fact(BASELINE_FACT))
    if not path.is_file():
        raise PreflightError(f"the baseline file {path} is missing", "run stage0 (preflight) again")
    return json.loads(path.read_text())
