"""`octane plan ENV`: the whole upgrade of an env, in order, before it happens. Reads; changes nothing.

For each stage: the spec command that runs it, the nodes it touches and how,
and its expected duration; over all, the API write window (maintenance) and
the total. The plan goes into the env's journal: the first one is kept as
`upgrade_plan` (what the operator was told before starting), each later one
as `upgrade_plan_latest`. Run again after some stages ran, it shows those as
done (with their actual durations) and plans what remains; `compare` sets the
first plan beside what ran (for `octane status` and stage 6's evidence).

Which nodes — the procedures' own choices, called, not copied:

- the seed's controllers: `upgrade_env.choose_controllers` (the free nodes
  upgrade-env takes when none are named), or the journal's once it ran;
- stage 6's batches: `upgrade_node.read_cloud` + `planner_input` (nova's
  computes, capacity under the scheduler's arithmetic, VMs and flavors) fed to
  `batches.plan` with stage 6's own costs, i.e. the batches stage 6 computes
  if the cloud is the same then. Before upgrade-control the original's API
  and controller describe the computes, from then on the seed's; once stage 6
  has planned, its journaled plan is the one shown.

How durations are estimated (seconds, `Rates`; every figure an option of
`octane plan`):

- the databases' size from MySQL's information_schema (`db.sizes`: InnoDB's
  data + index length, no table scan) over `db_mb_per_s` gives one pass over
  the data; preflight makes two (dump, test-restore), upgrade-db three (dump,
  test-restore, restore), plus one schema migration per service (`sync_s`)
  and the maintenance switch (`maintenance_s`);
- a provisioning + deployment of nodes in one Fuel task (in parallel) costs
  `reinstall_s`, a live migration `migration_s` (stage 6's defaults: 1 h and
  1 min, hardware's order); stage 6 is the planner's batches costed so;
- the rest are fixed costs per stage (checks, clone and isolation, the Ceph
  MON move, the control switch, each wave of computes upgraded in place,
  cleanup), hardware's order of magnitude;
- `scale` multiplies all of that (a lab, or faster hardware); once stages of
  this upgrade are done, their actual durations (journal) over their raw
  estimates give the factor instead (calibration).

The write window is upgrade-db + upgrade-ceph + upgrade-control (maintenance
is entered at the start of upgrade-db and left at the end of upgrade-control),
run back to back.

Limits: the rates are assumptions until calibrated, and one factor for every
stage is coarse (preflight's checks say little about a deployment's speed);
InnoDB's sizes are estimates; a live migration's time grows with the guest's
memory and how fast it dirties it, not modelled; the window grows with every
pause the operator makes between upgrade-db and upgrade-control; if VMs or
computes change before stage 6, stage 6 plans again on the cloud as it is
(the comparison then shows the difference).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from runbook.errors import OctaneError
from runbook.journal import DONE, PENDING, Journal
from runbook.lib import db, ssh
from runbook.procedure import batches, upgrade_env, upgrade_node
from runbook.procedure.context import Context

log = logging.getLogger(__name__)

FIRST_FACT = "upgrade_plan"
LATEST_FACT = "upgrade_plan_latest"
SERVICES = ("nova", "keystone", "neutron", "cinder", "glance", "heat")

# The stages in order, with the spec's commands that run them ({env}, {seed}: ids).
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stage0_preflight", ("prepare --env {env}",)),
    ("stage1_prepare", ("prepare --env {env}",)),
    ("stage2_upgrade_env", ("upgrade-env {env}",)),
    ("stage3_upgrade_db", ("upgrade-db {seed}",)),
    ("stage4_upgrade_ceph", ("upgrade-ceph {seed}",)),
    ("stage5_upgrade_control", ("upgrade-control {seed}",)),
    ("stage6_upgrade_nodes", ("upgrade-node {seed}",)),
    ("stage7_cleanup", ("cleanup-env {seed}", "cleanup-fuel")),
)
WINDOW = ("stage3_upgrade_db", "stage4_upgrade_ceph", "stage5_upgrade_control")


@dataclass(frozen=True)
class Rates:
    """What the estimate assumes (seconds unless said); hardware's order of magnitude by default."""

    db_mb_per_s: float = 20.0  # MB of InnoDB data a second through mysqldump | gzip, or zcat | mysql
    sync_s: float = 120.0  # one service's Juno -> Kilo schema migration
    maintenance_s: float = 120.0  # HAProxy read-only, writers stopped, the seed's services stopped
    checks_s: float = 120.0  # preflight's checks and baseline
    prepare_s: float = 60.0  # nodes reached, workspace, extension
    seed_setup_s: float = 300.0  # clone, settings check, assign, VIPs, isolation, the seed's cluster
    reinstall_s: float = upgrade_node.COSTS.reinstall_s  # provisioning + deployment of one Fuel task
    migration_s: float = upgrade_node.COSTS.migration_s  # one live migration
    ceph_s: float = 300.0  # the MON stores moved, the seed's MONs in quorum
    switch_s: float = 900.0  # original stopped and unplugged, seed plugged, cluster and APIs up
    compute_s: float = 300.0  # one wave of computes upgraded in place (ssh fan-out width at once)
    cleanup_s: float = 600.0  # stale services and agents, RPC pin, master reverted
    scale: float = 1.0  # multiplies every figure above (a lab is ~1000x faster than hardware)


class PlanError(OctaneError):
    """The plan cannot be made (the env cannot be read): nothing was changed."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _hosts(names: Any) -> list[str]:
    return sorted(names, key=lambda h: (len(h), h))


def _roles(node: dict[str, Any]) -> set[str]:
    return set(node.get("roles") or []) | set(node.get("pending_roles") or [])


def _optional_fact(journal: Journal, key: str) -> Any:
    return journal.fact_or(key)


# --------------------------------------------------------------------------- what the env is


def env_nodes(ctx: Context, seed: int | None) -> dict[str, list[str]]:
    """The upgrade's nodes by what it does with them (hostnames, sorted): the original's controllers,
    and the computes and OSD nodes wherever they are now (upgrade-node moves them to the seed)."""
    both = [n for n in ctx.facts.nodes() if n.get("cluster") in (ctx.env_id, seed) and n.get("cluster") is not None]
    return {"controllers": ctx.facts.controllers(),
            "computes": _hosts(n["hostname"] for n in both if "compute" in _roles(n)),
            "osd": _hosts(n["hostname"] for n in both if "ceph-osd" in _roles(n)),
            "all": _hosts(n["hostname"] for n in ctx.facts.env_nodes())}


def seed_controllers(ctx: Context, warnings: list[str]) -> list[str]:
    """The journal's seed controllers once upgrade-env chose them, else those it would choose now."""
    recorded = _optional_fact(ctx.journal, upgrade_env.CONTROLLERS_FACT)
    if recorded:
        return _hosts(recorded)
    try:
        return _hosts(c["hostname"] for c in upgrade_env.choose_controllers(ctx, None))
    except OctaneError as exc:
        warnings.append(f"upgrade-env would refuse: {exc}")
        return []


def database_size(ctx: Context, controller: str) -> dict[str, Any]:
    """The service databases' size as the controller's MySQL estimates it."""
    found = db.sizes(ctx.pool, controller, list(SERVICES))
    return {"node": controller, "databases": sorted(found), "bytes": sum(v["bytes"] for v in found.values()),
            "rows": sum(v["rows"] for v in found.values()), "tables": sum(v["tables"] for v in found.values())}


def node_batches(ctx: Context, statuses: dict[str, str], controllers: list[str], seed: int | None,
                 warnings: list[str]) -> dict[str, Any]:
    """Stage 6's batches: its journaled plan once it planned, else the planner on the cloud as the
    API serving it now describes it (the original's until upgrade-control, then the seed's)."""
    recorded = upgrade_node.recorded_plan(ctx) if statuses[upgrade_node.STAGE] != PENDING else None
    if recorded:
        plan = batches.Plan.from_dict(recorded["plan"])
        return {"source": "stage 6's own plan (journal)", "plan": plan.to_dict(), "problems": []}
    try:
        if statuses[upgrade_node.PREVIOUS] == DONE:
            seen, source = upgrade_node.read_cloud(ctx), "the seed's API"
        else:
            seen = upgrade_node.read_cloud(ctx, conn=ctx.cloud(), controller=controllers[0], seed=seed)
            source = "the original's API"
        computes, osd_only, problems = upgrade_node.planner_input(ctx, seen)
        plan = batches.plan(computes, osd_only, upgrade_node.COSTS)
    except OctaneError as exc:
        warnings.append(f"stage 6 cannot be planned now: {exc}")
        return {"source": "none", "plan": None, "problems": [str(exc)]}
    warnings += [f"upgrade-node would refuse: {p}" for p in problems]
    return {"source": source, "plan": plan.to_dict(), "problems": problems}


# --------------------------------------------------------------------------- estimates


def stage6_seconds(planned: dict[str, Any] | None, rates: Rates) -> float:
    """The batches costed with these rates (one after another: drain, then reinstall)."""
    if not planned:
        return 0.0
    costs = replace(batches.Costs(**planned["costs"]), reinstall_s=rates.reinstall_s,
                    migration_s=rates.migration_s)
    plan = batches.Plan.from_dict(planned)
    return sum(batches.drain_seconds(b.moves, costs) + costs.reinstall_s
               + (costs.osd_settle_s if b.osd_nodes else 0.0) for b in plan.batches)


def raw_estimates(rates: Rates, db_bytes: int | None, services: int, computes: int,
                  planned: dict[str, Any] | None) -> dict[str, float]:
    """Each stage's duration under `rates` before `scale` (pure arithmetic; see the module's docstring)."""
    one_pass = (db_bytes or 0) / (rates.db_mb_per_s * 1e6)
    waves = math.ceil(computes / ssh.DEFAULT_WORKERS) if computes else 0
    return {
        "stage0_preflight": rates.checks_s + 2 * one_pass,
        "stage1_prepare": rates.prepare_s,
        "stage2_upgrade_env": rates.seed_setup_s + rates.reinstall_s,
        "stage3_upgrade_db": rates.maintenance_s + 3 * one_pass + services * rates.sync_s,
        "stage4_upgrade_ceph": rates.ceph_s,
        "stage5_upgrade_control": rates.switch_s + waves * rates.compute_s,
        "stage6_upgrade_nodes": stage6_seconds(planned, rates),
        "stage7_cleanup": rates.cleanup_s,
    }


def seconds_between(started: str | None, ended: str | None) -> float | None:
    if not started or not ended:
        return None
    return (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()


def stage_span(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """When a stage worked: its first step's start and its last step's end (a re-run that found every
    step done does not make it look instant; a failed run and its re-run span the pause between them,
    which the cloud lived through); the record's own times when it has no step. End None: not ended."""
    steps = [s for s in record.get("steps", {}).values() if s.get("started")]
    if not steps:
        return record.get("started"), record.get("ended")
    ended = record.get("ended") and max(s.get("ended") or record["ended"] for s in steps)
    return min(s["started"] for s in steps), ended


def stage_seconds(record: dict[str, Any]) -> float | None:
    """How long a stage took (`stage_span`); None while it has not ended."""
    return seconds_between(*stage_span(record))


def actual_seconds(journal: Journal) -> dict[str, float]:
    """Each done stage's duration, from the journal."""
    out = {}
    for name in journal.stage_names():
        record = journal.stage_record(name)
        took = stage_seconds(record)
        if record.get("status") == DONE and took is not None:
            out[name] = took
    return out


def calibration(actual: dict[str, float], raw: dict[str, float]) -> float | None:
    """Actual over raw estimate, summed over the stages done: how much faster (or slower) this cloud
    is than the rates assume. None before a stage with an estimate is done."""
    done = [s for s in actual if raw.get(s)]
    if not done:
        return None
    return sum(actual[s] for s in done) / sum(raw[s] for s in done)


# --------------------------------------------------------------------------- the plan


def commands(stage: str, env: int, seed: int | None) -> list[str]:
    templates = dict(STAGES)[stage]
    return [f"octane {t.format(env=env, seed=seed if seed is not None else 'SEED')}" for t in templates]


def touches(stage: str, nodes: dict[str, list[str]], seeds: list[str], planned: dict[str, Any] | None,
            seed_name: str) -> list[dict[str, Any]]:
    """What the stage does to which nodes, in words, for the plan's table."""
    ctl, computes = nodes["controllers"], nodes["computes"]
    found: dict[str, list[tuple[str, list[str]]]] = {
        "stage0_preflight": [("checked, read only", ctl),
                             ("service DBs dumped to the master and test-restored", ctl[:1])],
        "stage1_prepare": [("reached over SSH with pinned host keys", _hosts(set(nodes["all"]) | set(seeds))),
                           ("workspace and the cluster_upgrade extension", ["master"])],
        "stage2_upgrade_env": [(f"env cloned to the 7.0 seed {seed_name!r}", ["master"]),
                               ("provisioned and deployed as isolated seed controllers", seeds)],
        "stage3_upgrade_db": [("APIs read-only, writers stopped, DBs dumped", ctl),
                              ("restored and migrated (db sync)", seeds)],
        "stage4_upgrade_ceph": [("MON store, fsid and keys copied from", ctl),
                                ("MONs with the original fsid and addresses", seeds)],
        "stage5_upgrade_control": [("stopped and unplugged", ctl), ("plugged in: VIPs and IPs taken over", seeds),
                                   ("nova-compute and OVS agent upgraded in place, RPC pin", computes)],
        "stage6_upgrade_nodes": [(f"batch {b['index']}: {len(b['moves'])} VM move(s), then reinstalled on 7.0",
                                  list(dict.fromkeys(b["computes"] + b["osd_nodes"])))
                                 for b in (planned or {}).get("batches", [])],
        "stage7_cleanup": [("stale services and agents removed, RPC pin removed", _hosts(set(seeds) | set(computes))),
                           ("extension and workspace reverted", ["master"])],
    }
    return [{"what": what, "nodes": list(names)} for what, names in found[stage]]


def make(ctx: Context, rates: Rates | None = None) -> dict[str, Any]:
    """The plan of the whole upgrade (plain data, as journaled); reads only."""
    rates = rates or Rates()
    journal = ctx.journal
    journal.refresh()
    env = ctx.facts.env()
    statuses = {stage: journal.stage_status(stage) for stage, _ in STAGES}
    warnings: list[str] = []
    seed = _optional_fact(journal, upgrade_env.SEED_FACT)
    nodes = env_nodes(ctx, seed)
    seeds = seed_controllers(ctx, warnings)
    size: dict[str, Any] | None = None
    if statuses["stage3_upgrade_db"] != DONE:
        try:
            size = database_size(ctx, nodes["controllers"][0])
        except OctaneError as exc:
            warnings.append(f"the databases' size cannot be read: {exc}")
    stage6 = node_batches(ctx, statuses, nodes["controllers"], seed, warnings)
    first = _optional_fact(journal, FIRST_FACT)
    raw = raw_estimates(rates, size["bytes"] if size else None, len(size["databases"]) if size else len(SERVICES),
                        len(nodes["computes"]), stage6["plan"])
    actual = actual_seconds(journal)
    factor = calibration(actual, (first or {}).get("raw_s") or raw)
    scale = factor if factor is not None else rates.scale
    estimate = {stage: seconds * scale for stage, seconds in raw.items()}
    rows = []
    for stage, _ in STAGES:
        rows.append({"stage": stage, "commands": commands(stage, env["id"], seed), "status": statuses[stage],
                     "touches": touches(stage, nodes, seeds, stage6["plan"], upgrade_env.seed_name(env)),
                     "estimate_s": round(estimate[stage], 3), "actual_s": actual.get(stage)})
    remaining = [r for r in rows if r["status"] != DONE]
    return {
        "env_id": env["id"], "env_name": env.get("name"), "made": _now(), "seed_env_id": seed,
        "seed_controllers": seeds, "stages": rows,
        "batches": [list(dict.fromkeys(b["computes"] + b["osd_nodes"]))
                    for b in (stage6["plan"] or {}).get("batches", [])],
        "stage6": {"source": stage6["source"], "plan": stage6["plan"]},
        "window_s": round(sum(estimate[s] for s in WINDOW), 3),
        "total_s": round(sum(estimate.values()), 3),
        "remaining_s": round(sum(r["estimate_s"] for r in remaining), 3),
        "raw_s": {k: round(v, 3) for k, v in raw.items()},
        "db": size, "rates": asdict(rates), "scale": scale,
        "basis": (f"calibrated: the stages done took x{factor:.4g} of the rates' estimate" if factor is not None
                  else f"rates x{rates.scale:g} (not calibrated: no stage done yet)"),
        "warnings": warnings,
    }


def record(journal: Journal, plan: dict[str, Any]) -> dict[str, Any] | None:
    """Journal the plan: the latest always, the first only once (kept for the comparison); the first."""
    first = _optional_fact(journal, FIRST_FACT)
    if first is None:
        journal.fact(FIRST_FACT, plan)
        first = plan
    journal.fact(LATEST_FACT, plan)
    return first


# --------------------------------------------------------------------------- plan vs what ran


_BATCH_STEP = re.compile(r"^batch (\d+) \[([^\]]*)\]: reassign$")


def batches_run(journal: Journal) -> list[list[str]]:
    """The nodes stage 6 reinstalled together, in the order it did (its done `reassign` steps)."""
    steps = journal.stage_record(upgrade_node.STAGE).get("steps", {})
    return [found.group(2).split() for name, step in steps.items()
            if step.get("status") == DONE and (found := _BATCH_STEP.match(name))]


def window_actual(journal: Journal) -> dict[str, Any]:
    """The write window as the journal saw it: upgrade-db's start to upgrade-control's end."""
    opened = journal.stage_record(WINDOW[0]).get("started")
    closing = journal.stage_record(WINDOW[-1])
    closed = closing.get("ended") if closing.get("status") == DONE else None
    return {"from": opened, "to": closed, "seconds": seconds_between(opened, closed)}


def compare(first: dict[str, Any], journal: Journal) -> dict[str, Any]:
    """The first plan beside what ran: per stage planned and actual seconds; the seed controllers and
    stage 6's batches planned and used; the write window planned and actual."""
    actual = actual_seconds(journal)
    used_seeds = _optional_fact(journal, upgrade_env.CONTROLLERS_FACT)
    ran = batches_run(journal)
    planned_batches = first.get("batches", [])
    return {
        "planned_at": first.get("made"),
        "stages": [{"stage": r["stage"], "planned_s": r["estimate_s"], "actual_s": actual.get(r["stage"]),
                    "status": journal.stage_status(r["stage"])} for r in first.get("stages", [])],
        "seed_controllers": {"planned": first.get("seed_controllers"), "used": _hosts(used_seeds or []),
                             "same": used_seeds is None or _hosts(used_seeds) == first.get("seed_controllers")},
        "batches": {"planned": planned_batches, "ran": ran,  # same: as planned so far (stage 6 may be running)
                    "same": [sorted(b) for b in ran] == [sorted(b) for b in planned_batches[:len(ran)]]},
        "window": {"planned_s": first.get("window_s"), **window_actual(journal)},
    }
