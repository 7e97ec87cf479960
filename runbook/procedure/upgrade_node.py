"""Stage 6, upgrade-node (`octane upgrade-node SEED [NODE...]`): computes and OSD nodes reinstalled on 7.0.

After stage 5 the seed's controllers serve the cloud and the computes run
Kilo's nova-compute in place, still on the 6.1 OS and still in the original env
in Fuel. This stage moves every compute and Ceph OSD node of the original env
into the seed env, reinstalled with 7.0, without stopping a VM or moving a
byte of Ceph data:

- A compute is reinstalled only when empty: disabled in nova (with a reason),
  each VM live-migrated away (Ceph ephemeral: no block migration) to a compute
  the plan chose with room for it, nova and libvirt both checked to run
  nothing there any more. The `vm` partition is not kept: with Ceph ephemeral
  it holds only the instance folders of VMs that now live elsewhere, and a
  compute is never reinstalled with a VM on it.
- An OSD node keeps its `ceph` partitions (`keep_data`), goes down under
  `noout` (its OSDs stay in: no backfill), one node (failure domain) at a time,
  and comes back with the same OSD ids, every PG active+clean, before another
  goes down; `noout` is unset when the run's last OSD node is back.
- Every deployment rewrites nova.conf without the RPC pin: `[upgrade_levels]
  compute=juno` is put back on each deployed compute (and checked on the seed
  controllers) before nova-compute is enabled again; cleanup removes it.

Which nodes: `upgrade-node SEED` upgrades every compute and OSD node still in
the original env; `upgrade-node SEED NODE...` only those (Fuel node ids), in
the order of the plan. The stage is done when no compute or OSD node is left
in the original env: a run that upgraded a selection ends failed, saying which
nodes remain and how to continue, so that cleanup cannot start early.

Steps, each journaled (a re-run continues: done steps are not repeated, and
every action checks the world first, so a step interrupted half-way is safe to
run again):

1. `plan` (first run only; refusals here change nothing): the cloud as nova,
   Fuel and the computes describe it (capacity under the scheduler's
   arithmetic, VMs and flavors, nova-compute releases, shared storage, OSD ids
   per node), refused when a VM on a node to upgrade is not ACTIVE (ERROR:
   fix it first; SHUTOFF: live migration moves running guests only), a compute
   to drain is down, a node is the last enabled nova-compute or capacity is
   short; then the batches (runbook.procedure.batches), stored in the journal
   (step result and the fact `node_plan`) for `octane plan` to compare with
   what ran. The selection is checked against it (a node that is not a
   compute or OSD node of the original env is refused).
2. Per batch, in the plan's order (`batch N [nodes]: ...`; the per-compute
   steps of a batch run in parallel): `moves` (where the VMs go, on the cloud
   as it is now: refused if it no longer fits), `<compute>: disable`,
   `migrate` (one VM at a time out of each compute, computes in parallel; a
   VM already gone is not moved again; run again after a failure, it plans
   what is left anew), `<compute>: empty`; for the OSD node `<osd>: noout`
   (every OSD up and in, every PG active+clean first: one failure domain at a
   time) and `<osd>: osds before`;
   `reassign` (keep_data on the OSD node's ceph volumes, read back, then
   upgrade/assign with reprovision), `provision` (a node that failed is
   provisioned again), `deploy`, `rpc pin`, `<compute>: nova-compute up`,
   `<compute>: enable`, `<osd>: osds back` (same ids, up and in, PGs
   active+clean; a new OSD id on the node means its data was wiped: stop),
   `verify`, `<node>: upgraded`.
3. `noout unset after <osd nodes>` (HEALTH_OK again), `verify`, and the nodes
   left in the original env, if any (the run ends failed naming them).

Facts: `node_plan` (the batches), `node_noout` (who set noout: octane unsets only its own).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbook.errors import FuelError, JournalError, OctaneError
from runbook.journal import Stage, Step
from runbook.lib import apt, ceph, cloud, ini, network, upstart
from runbook.plugins.path_61_70 import TO_VERSION
from runbook.procedure import batches, upgrade_control, upgrade_env
from runbook.procedure.batches import INF, Compute, Size
from runbook.procedure.context import Context, Hook, run_step

if TYPE_CHECKING:
    from openstack.connection import Connection

log = logging.getLogger(__name__)

STAGE = "stage6_upgrade_nodes"
PREVIOUS = upgrade_control.STAGE
SEED_FACT = upgrade_env.SEED_FACT
PLAN_FACT = "node_plan"
NOOUT_FACT = "node_noout"
REASON = "octane upgrade-node: reinstalling on 7.0"  # nova's disabled_reason: who disabled it, and why
COMPUTE, OSD = "compute", "ceph-osd"
KEEP = {OSD: ["ceph"]}  # role -> volumes whose data survives the reinstall
NOVA_CONF = upgrade_control.NOVA_CONF
PIN = upgrade_control.PIN
KILO, JUNO = "1:2015.1", "1:2014.2"  # nova-compute package version prefixes
FUEL_RELEASE = "/etc/fuel_release"
COSTS = batches.Costs()  # the plan's expected durations: hardware's order of magnitude

MIGRATION_TIMEOUT = 1800.0  # seconds for one live migration (a big, busy guest on hardware)
MAX_SOURCES = 32  # computes drained at once (one migration out of each)
PROVISION_TIMEOUT = upgrade_env.PROVISION_TIMEOUT
DEPLOY_TIMEOUT = upgrade_env.DEPLOY_TIMEOUT
COMPUTE_TIMEOUT = 600.0  # seconds for a deployed compute's nova-compute and OVS agent to report
CEPH_TIMEOUT = 1800.0  # seconds for an OSD node's OSDs to be back and its PGs active+clean
HEALTH_TIMEOUT = 600.0  # seconds for HEALTH_OK once noout is unset
PROBE_TIMEOUT = upgrade_control.PROBE_TIMEOUT
SSH_TIMEOUT = 60.0


class UpgradeNodeError(OctaneError):
    """upgrade-node cannot go on: what is wrong, and what to do."""


def _sorted_hosts(names: Any) -> list[str]:
    return sorted(names, key=lambda h: (len(h), h))


def seed_id(ctx: Context) -> int:
    return upgrade_control.seed_id(ctx)


def seed_cloud(ctx: Context) -> Connection:
    return upgrade_control.seed_cloud(ctx)


# --------------------------------------------------------------------------- the cloud as the planner sees it


def allocation(ctx: Context, controller: str) -> dict[str, float]:
    """The scheduler's arithmetic from a seed controller's nova.conf (nova's defaults where unset)."""
    found = ini.options(ctx.pool.read_text(controller, NOVA_CONF)).get("DEFAULT", {})
    defaults = {"ram_allocation_ratio": 1.5, "cpu_allocation_ratio": 16.0, "disk_allocation_ratio": 1.0,
                "reserved_host_memory_mb": 512.0, "reserved_host_disk_mb": 0.0}
    out = {}
    for key, default in defaults.items():
        try:
            out[key] = float(found.get(key, default))
        except ValueError:
            raise UpgradeNodeError(f"{controller}:{NOVA_CONF} has {key} = {found[key]!r}, not a number",
                                   "fix nova.conf on the seed controllers") from None
    return out


def codename(version: str | None) -> str | None:
    if not version:
        return None
    return "kilo" if version.startswith(KILO) else "juno" if version.startswith(JUNO) else None


def compute_facts(ctx: Context, host: str) -> dict[str, Any]:
    """What a compute says of itself: its nova-compute release, whether its disks are Ceph's (rbd)."""
    version = apt.versions(ctx.pool, host, ["nova-compute"]).get("nova-compute")
    libvirt = ini.options(ctx.pool.read_text(host, NOVA_CONF)).get("libvirt", {})
    return {"release": codename(version), "version": version, "shared": libvirt.get("images_type") == "rbd"}


def vm_size(server: dict[str, Any], flavors: dict[str, dict[str, Any]]) -> Size:
    flavor = flavors.get(str(server.get("flavor_id")))
    if flavor is None:
        raise UpgradeNodeError(f"VM {server['id']} ({server['name']}) has flavor {server.get('flavor_id')}, "
                               "which nova does not list", "check the flavor (a deleted one must be restored)")
    disk = float(flavor["disk"] or 0) + float(flavor["ephemeral"] or 0) + float(flavor["swap"] or 0) / 1024
    return Size(float(flavor["vcpus"]), float(flavor["ram"]), disk)


def read_cloud(ctx: Context, conn: Connection | None = None, controller: str | None = None,
               seed: int | None = None) -> dict[str, Any]:
    """Nova's computes, servers, flavors and hypervisors in the seed's API, Fuel's nodes of both envs,
    and each compute's own facts: everything the planner and the refusals need.

    `octane plan` (runbook.procedure.plan) reads the same before upgrade-control, when the original's
    API and controller (`conn`, `controller`) describe the computes and the seed may not exist yet."""
    if conn is None:
        seed, conn, controller = seed_id(ctx), seed_cloud(ctx), upgrade_control.seed_controllers(ctx)[0]
    services = {s["host"]: s for s in cloud.compute_services(conn) if s["binary"] == "nova-compute"}
    hypervisors = cloud.hypervisor_capacity(conn)
    flavors = {str(f["id"]): f for f in cloud.flavors(conn)}
    servers = cloud.servers(conn)
    nodes = {n["hostname"]: n for n in ctx.fuel.nodes() if n.get("cluster") in (ctx.env_id, seed)}
    facts = ctx.pool.fan_out([h for h in services if h in nodes], lambda h: compute_facts(ctx, h),
                             max_workers=MAX_SOURCES)
    for host, exc in sorted(facts.errors.items()):
        log.warning("%s: compute %s cannot be read (%s): no VM is sent there", STAGE, host, exc)
    return {"seed": seed, "services": services, "hypervisors": hypervisors, "flavors": flavors,
            "servers": servers, "nodes": nodes, "facts": facts.results,
            "unreadable": {h: str(e) for h, e in facts.errors.items()},
            "allocation": allocation(ctx, controller or upgrade_control.seed_controllers(ctx)[0])}


def roles(node: dict[str, Any]) -> set[str]:
    return set(node.get("roles") or []) | set(node.get("pending_roles") or [])


def model(ctx: Context, seen: dict[str, Any]) -> list[Compute]:
    """The planner's computes: every nova-compute of the seed's API, what the scheduler lets run on it,
    its VMs, release, whether it is in the original env (to upgrade) or reinstalled in the seed."""
    ratios = seen["allocation"]
    by_host: dict[str, list[dict[str, Any]]] = {}
    for server in seen["servers"]:
        by_host.setdefault(server["host"], []).append(server)
    out = []
    for host, service in sorted(seen["services"].items()):
        hypervisor = seen["hypervisors"].get(host)
        node = seen["nodes"].get(host, {})
        facts = seen["facts"].get(host, {})
        if hypervisor is None:
            capacity = Size()
        else:
            local = float(hypervisor.get("local_gb") or 0) * ratios["disk_allocation_ratio"]
            disk = INF if facts.get("shared", True) else local - ratios["reserved_host_disk_mb"] / 1024
            capacity = Size(float(hypervisor["vcpus"]) * ratios["cpu_allocation_ratio"],
                            float(hypervisor["memory_mb"]) * ratios["ram_allocation_ratio"]
                            - ratios["reserved_host_memory_mb"], disk)
        vms = tuple(batches.VM(s["id"], vm_size(s, seen["flavors"]), s["name"]) for s in by_host.get(host, []))
        in_seed = node.get("cluster") == seen["seed"]
        out.append(Compute(
            host, capacity, vms, facts.get("release") or "juno",
            upgrade=node.get("cluster") == ctx.env_id and COMPUTE in roles(node),
            enabled=service["status"] == "enabled" and service["state"] == "up" and host not in seen["unreadable"],
            osd=OSD in roles(node), done=in_seed and node.get("status") == "ready"))
    return out


def osd_only_nodes(ctx: Context, seen: dict[str, Any]) -> list[str]:
    """OSD nodes of the original env that are not computes."""
    return _sorted_hosts(n for n, node in seen["nodes"].items()
                         if node.get("cluster") == ctx.env_id and OSD in roles(node) and COMPUTE not in roles(node))


def not_movable(seen: dict[str, Any], hosts: list[str]) -> list[str]:
    """Why computes cannot be drained: a VM not ACTIVE (ERROR first of all), a compute whose
    nova-compute is down while it hosts VMs, or one that cannot be read over SSH."""
    problems = []
    for server in seen["servers"]:
        if server["host"] not in hosts:
            continue
        if server["status"] == "ERROR":
            problems.append(f"VM {server['id']} ({server['name']}) on {server['host']} is in ERROR: repair or "
                            "delete it first (it would be lost with the reinstall)")
        elif server["status"] != "ACTIVE":
            problems.append(f"VM {server['id']} ({server['name']}) on {server['host']} is {server['status']}: "
                            "live migration moves running guests only (start it, or move it with `nova migrate`)")
    for host in hosts:
        if host in seen["unreadable"]:
            problems.append(f"{host} cannot be read over SSH ({seen['unreadable'][host]}): make it reachable")
        service = seen["services"].get(host, {})
        if service.get("state") != "up" and any(s["host"] == host for s in seen["servers"]):
            problems.append(f"nova-compute of {host} is {service.get('state', 'not listed')}: its VMs cannot "
                            "live-migrate (start nova-compute there)")
    return problems


# --------------------------------------------------------------------------- 1. plan


def osd_hosts(ctx: Context) -> dict[str, list[int]]:
    """{host: its OSD ids} from the OSD tree (seen through a seed controller's ceph.conf)."""
    out: dict[str, list[int]] = {}
    for osd in ceph.osd_tree(ctx.pool, upgrade_control.seed_controllers(ctx)[0]):
        out.setdefault(osd["host"], []).append(osd["id"])
    return out


def marked_out(ctx: Context) -> dict[str, int]:
    """{seed monitor node: how many "osd.N out" entries its cluster log holds}: the stage must add none."""
    return {node: len(ceph.marked_out(ctx.pool, node)) for node in upgrade_control.seed_controllers(ctx)}


def planner_input(ctx: Context, seen: dict[str, Any]) -> tuple[list[Compute], list[str], list[str]]:
    """The planner's computes and OSD-only nodes from `read_cloud`, and why stage 6 would refuse to
    start (empty when it would not)."""
    computes = model(ctx, seen)
    todo = [c.name for c in computes if c.upgrade]
    problems = not_movable(seen, todo)
    unknown = [n for n, node in seen["nodes"].items() if node.get("cluster") == ctx.env_id
               and COMPUTE in roles(node) and n not in seen["services"]]
    problems += [f"compute {n} has no nova-compute in the API" for n in _sorted_hosts(unknown)]
    return computes, osd_only_nodes(ctx, seen), problems


def make_plan(ctx: Context) -> dict[str, Any]:
    """The batches for every compute and OSD node still in the original env; refused (nothing changed)
    when a rule cannot be kept."""
    seen = read_cloud(ctx)
    computes, osd_only, problems = planner_input(ctx, seen)
    todo = [c.name for c in computes if c.upgrade]
    if problems:
        raise UpgradeNodeError("upgrade-node cannot start: " + "; ".join(problems),
                               "fix what is named, then run upgrade-node again; nothing was changed")
    try:
        plan = batches.plan(computes, osd_only, COSTS)
    except batches.PlanError as exc:
        raise UpgradeNodeError(f"upgrade-node cannot start: {exc.message}", exc.fix) from None
    planned = plan.to_dict()
    nodes = {n: seen["nodes"][n]["id"] for b in plan.batches for n in b.nodes}
    shared = {h: f.get("shared") for h, f in seen["facts"].items() if h in todo}
    result = {
        "plan": planned, "summary": plan.summary(), "nodes": nodes,
        "roles": {n: sorted(roles(seen["nodes"][n])) for n in nodes},
        "osds": {n: ids for n, ids in osd_hosts(ctx).items() if n in nodes},
        "shared_storage": all(shared.values()),
        "releases": {h: f.get("release") for h, f in sorted(seen["facts"].items())},
        "marked_out_before": marked_out(ctx),
    }
    for line in plan.summary():
        log.info("%s env %s plan: %s", STAGE, ctx.env_id, line)
    ctx.journal.fact(PLAN_FACT, {"batches": [b["computes"] + [o for o in b["osd_nodes"] if o not in b["computes"]]
                                             for b in planned["batches"]],
                                 "duration_s": planned["duration_s"], "lower_bound_s": planned["lower_bound_s"],
                                 "one_at_a_time_s": planned["one_at_a_time_s"], "migrations": planned["migrations"]})
    return result


def select(ctx: Context, planned: dict[str, Any], wanted: list[int] | None, done: set[str]) -> list[str]:
    """The nodes this run upgrades: the operator's selection (Fuel ids) or every planned one, less
    those already upgraded. A node that is not a planned compute or OSD node is refused."""
    names = planned["nodes"]
    if wanted is None:
        return [n for n in names if n not in done]
    by_id = {n["id"]: n for n in ctx.fuel.nodes()}
    ids = {i: n for n, i in names.items()}
    problems = []
    for node_id in wanted:
        node = by_id.get(node_id)
        if node is None:
            problems.append(f"{node_id}: no such node")
        elif node_id not in ids:
            where = node.get("cluster")
            what = ("a controller of the original env (cleanup retires them)" if where == ctx.env_id
                    and "controller" in roles(node) else
                    f"already in the seed env {where}" if where == seed_id(ctx) else
                    f"not in the original env {ctx.env_id} (env {where})")
            problems.append(f"{node_id} ({node['hostname']}): {what}")
    if problems:
        raise UpgradeNodeError("nodes that upgrade-node cannot take: " + "; ".join(problems),
                               f"name computes or OSD nodes of env {ctx.env_id} (planned: "
                               f"{', '.join(f'{n} ({i})' for n, i in names.items())}); nothing was changed")
    chosen = {ids[i] for i in wanted}
    return [n for n in names if n in chosen and n not in done]


# --------------------------------------------------------------------------- 2. per batch: drain


def moves(ctx: Context, computes: list[str]) -> list[dict[str, str]]:
    """Where the batch's VMs go, on the cloud as it is now; refused (nothing of the batch changed)
    when one cannot move or they no longer fit."""
    seen = read_cloud(ctx)
    problems = not_movable(seen, computes)
    if problems:
        raise UpgradeNodeError("the batch cannot be drained: " + "; ".join(problems),
                               "fix what is named, then re-run upgrade-node; nothing of this batch was changed")
    try:
        found = batches.moves_for(model(ctx, seen), computes)
    except batches.PlanError as exc:
        raise UpgradeNodeError(exc.message, exc.fix) from None
    return [{"vm": m.vm, "name": m.name, "from": m.source, "to": m.target} for m in found]


def disable(ctx: Context, host: str) -> dict[str, Any]:
    """nova-compute of `host` disabled with octane's reason (one disabled by someone else stays as it
    was, and is not enabled again by octane)."""
    conn = seed_cloud(ctx)
    before = cloud.compute_service(conn, host)
    if before["status"] == "disabled" and before.get("disabled_reason") != REASON:
        return {"host": host, "disabled_by_octane": False, "was": before}
    after = cloud.disable_compute(conn, host, REASON)
    if after["status"] != "disabled":
        raise UpgradeNodeError(f"nova-compute of {host} is {after['status']} after service-disable",
                               "check nova-api's log, then re-run")
    return {"host": host, "disabled_by_octane": True, "was": before}


def migrate_out(ctx: Context, step: Step, source: str, planned: list[dict[str, str]], block: bool
                ) -> list[dict[str, str]]:
    """The VMs planned out of one compute, one at a time; a VM no longer there is not moved again."""
    conn = seed_cloud(ctx)
    done = []
    for move in planned:
        now = cloud.server(conn, move["vm"])
        if now["host"] != source:
            done.append({**move, "to": now["host"], "note": "already moved"})
            continue
        started = time.monotonic()
        cloud.live_migrate(conn, move["vm"], move["to"], block_migration=block)
        found = cloud.wait_migrated(conn, move["vm"], source, MIGRATION_TIMEOUT)
        done.append({**move, "to": found["host"], "seconds": round(time.monotonic() - started, 1)})
    step.evidence(f"{source} drained", f"{len(done)} VM(s): " + ", ".join(f"{m['vm']} -> {m['to']}" for m in done))
    return done


def migrate(ctx: Context, step: Step, computes: list[str], shared: bool,
            planned: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """Every VM off the batch's computes, one migration at a time out of each compute, the computes in
    parallel: as `planned` (the batch's `moves`, read just before), or, when the step runs again
    after a failure, the moves recomputed on the cloud as it is now (what is left)."""
    if planned is None:
        planned = moves(ctx, computes)
    by_source: dict[str, list[dict[str, str]]] = {}
    for move in planned:
        by_source.setdefault(move["from"], []).append(move)
    longest = max((len(v) for v in by_source.values()), default=0)
    seen = ctx.pool.fan_out(sorted(by_source), lambda src: migrate_out(ctx, step, src, by_source[src], not shared),
                            max_workers=MAX_SOURCES, timeout=MIGRATION_TIMEOUT * max(1, longest) + 60)
    if seen.errors:
        raise UpgradeNodeError(
            "live migrations failed: " + "; ".join(f"{h}: {e}" for h, e in sorted(seen.errors.items())),
            "fix the cause (nova's logs on both computes), then re-run upgrade-node: VMs already moved stay "
            "where they are, the others are planned again")
    return [m for source in sorted(seen.results) for m in seen.results[source]]


def empty(ctx: Context, host: str) -> dict[str, Any]:
    """Nobody left on `host`: nova lists no server there and its libvirt runs and defines no guest."""
    conn = seed_cloud(ctx)
    cloud.wait_host_empty(conn, host, timeout=60.0)
    guests = ctx.pool.check(host, "virsh list --all --uuid", timeout=SSH_TIMEOUT).stdout.split()
    if guests:
        raise UpgradeNodeError(f"{host}: nova lists no VM, but libvirt still has {', '.join(guests)}",
                               f"find out what these guests are (`virsh dominfo` on {host}) and move or remove "
                               "them; a reinstall would destroy them")
    return {"host": host, "servers": 0, "libvirt guests": 0}


# --------------------------------------------------------------------------- 2. per batch: Ceph


def ceph_node(ctx: Context) -> str:
    return upgrade_control.seed_controllers(ctx)[0]


def ceph_problems(ctx: Context) -> dict[str, Any]:
    """Whether another failure domain may go down now: every OSD up and in, every PG active+clean,
    no health problem but the noout flag."""
    node = ceph_node(ctx)
    osds = ceph.osd_tree(ctx.pool, node)
    pgs = ceph.pg_stat(ctx.pool, node)
    health, summary = ceph.health(ctx.pool, node)
    problems = [f"osd.{o['id']} on {o['host']} is {'up' if o['up'] else 'down'}/{'in' if o['in'] else 'out'}"
                for o in osds if not (o["up"] and o["in"])]
    if pgs["by_state"] != {"active+clean": pgs["num_pgs"]}:
        problems.append(f"PGs not all active+clean: {pgs['by_state']}")
    other = [s for s in summary if "noout" not in s]
    if health != "HEALTH_OK" and other:
        problems.append(f"{health}: {'; '.join(other)}")
    return {"problems": problems, "health": health, "summary": summary, "pgs": pgs["by_state"]}


def noout(ctx: Context, node: str) -> dict[str, Any]:
    """Before `node` goes down: the cluster whole (one failure domain at a time), then noout set."""
    state = ceph_problems(ctx)
    if state["problems"]:
        raise UpgradeNodeError(f"Ceph is not ready for {node} to go down: " + "; ".join(state["problems"]),
                               "wait for recovery to finish (ceph -s) or repair the OSDs named, then re-run "
                               "upgrade-node; nothing of this node was changed")
    flags = ceph.flags(ctx.pool, ceph_node(ctx))
    if "noout" not in flags:
        ceph.set_flag(ctx.pool, ceph_node(ctx), "noout")
        ctx.journal.fact(NOOUT_FACT, {"by": "octane", "at": time.time()})
    elif _optional_fact(ctx, NOOUT_FACT, {}).get("by") != "octane":
        ctx.journal.fact(NOOUT_FACT, {"by": "operator", "note": "set before upgrade-node: left set"})
    if "noout" not in ceph.flags(ctx.pool, ceph_node(ctx)):
        raise UpgradeNodeError("noout is not set after `ceph osd set noout`", "check the monitors' log")
    return {"flags_before": flags, **state}


def osds_before(ctx: Context, node: str, planned: dict[str, Any]) -> dict[str, Any]:
    """The OSD ids `node` carries now (they must come back with the same ids)."""
    found = osd_hosts(ctx).get(node, [])
    recorded = planned["osds"].get(node, [])
    if sorted(found) != sorted(recorded):
        raise UpgradeNodeError(f"{node} carries OSDs {found}, the plan recorded {recorded}",
                               "find out what changed (ceph osd tree), then re-run")
    return {"node": node, "osd_ids": sorted(found)}


def unset_noout(ctx: Context) -> dict[str, Any]:
    """noout unset (unless it was set before upgrade-node), then HEALTH_OK with every PG active+clean."""
    node = ceph_node(ctx)
    by = _optional_fact(ctx, NOOUT_FACT, {}).get("by")
    flags = ceph.flags(ctx.pool, node)
    if by == "operator":
        return {"flags": flags, "left": "noout was set before upgrade-node: the operator unsets it"}
    if "noout" in flags:
        ceph.unset_flag(ctx.pool, node, "noout")
    ctx.journal.fact(NOOUT_FACT, {"by": None, "unset_at": time.time()})
    found: dict[str, Any] = {}

    def problems() -> list[str]:
        found.update(ceph_problems(ctx))
        return found["problems"] + ([f"{found['health']}: {found['summary']}"] if found["health"] != "HEALTH_OK"
                                    else [])

    upgrade_control.wait_until("HEALTH_OK after noout", problems, HEALTH_TIMEOUT,
                               "read `ceph health detail`; repair what it names")
    return {"flags_before": flags, "health": found["health"]}


def osds_back(ctx: Context, node: str, ids: list[int]) -> dict[str, Any]:
    """`node`'s OSDs back with the same ids, up and in, on it; every PG active+clean. A new OSD id on
    the node means its data was wiped (keep_data lost): waiting cannot help."""
    found: dict[str, Any] = {}

    def problems() -> list[str]:
        tree = ceph.osd_tree(ctx.pool, ceph_node(ctx))
        mine = {o["id"]: o for o in tree if o["host"] == node}
        new = sorted(set(mine) - set(ids))
        if new:
            raise upgrade_control.Fatal(f"{node} came back with new OSD ids {new} instead of {ids}: its ceph "
                                        "volumes were wiped")
        state = ceph_problems(ctx)
        found.update(state, osds={i: mine.get(i) for i in ids})
        missing = [i for i in ids if i not in mine or not (mine[i]["up"] and mine[i]["in"])]
        return [f"osd.{i} not up and in on {node}" for i in missing] + state["problems"]

    upgrade_control.wait_until(f"{node}'s OSDs back", problems, CEPH_TIMEOUT,
                               f"read the OSD logs on {node} (/var/log/ceph/ceph-osd.*.log); check that its ceph "
                               "volumes were kept (fuel2 node disks) and that its ceph.conf names the monitors")
    return {"node": node, "osd_ids": ids, "pgs": found.get("pgs")}


# --------------------------------------------------------------------------- 2. per batch: Fuel


def fuel_nodes(ctx: Context, names: list[str], planned: dict[str, Any]) -> dict[str, dict[str, Any]]:
    wanted = {planned["nodes"][n] for n in names}
    return {n["hostname"]: n for n in ctx.fuel.nodes() if n["id"] in wanted}


def keep(names: list[str], planned: dict[str, Any]) -> dict[int, list[str]]:
    """{node id: volumes to keep} by the roles the plan recorded."""
    out = {}
    for name in names:
        volumes = sorted({v for role in planned["roles"][name] for v in KEEP.get(role, [])})
        if volumes:
            out[planned["nodes"][name]] = volumes
    return out


def reassign(ctx: Context, step: Step, names: list[str], planned: dict[str, Any]) -> dict[str, Any]:
    """The batch's nodes still in the original env moved to the seed and reprovisioned, their data
    volumes marked keep_data first; a provisioning already running is waited for by `provision`."""
    seed = seed_id(ctx)
    nodes = fuel_nodes(ctx, names, planned)
    todo = [n for n in names if nodes[n].get("cluster") == ctx.env_id]
    wrong = [f"{n} (env {nodes[n].get('cluster')})" for n in names if nodes[n].get("cluster") not in (ctx.env_id, seed)]
    if wrong:
        raise UpgradeNodeError(f"nodes in neither the original nor the seed env: {', '.join(wrong)}",
                               "find out who moved them (fuel2 node list); nothing of this batch was reinstalled")
    if not todo:
        return {"moved": [], "note": "already in the seed env"}
    ids = [planned["nodes"][n] for n in todo]
    kept = keep(todo, planned)
    task = ctx.fuel.reassign(seed, ids, keep=kept)
    step.evidence("task", f"provisioning task {task['id']} for {', '.join(todo)}; keep_data: {kept}")
    return {"moved": todo, "task": task["id"], "keep_data": {str(k): v for k, v in kept.items()}}


def wait_task(ctx: Context, step: Step, task: dict[str, Any], ids: list[int], timeout: float, what: str) -> None:
    """A Fuel task of the batch waited for; its failure says how upgrade-node goes on."""
    try:
        upgrade_env.wait_task(ctx, step, task, ids, timeout)
    except FuelError as exc:
        raise UpgradeNodeError(exc.message, f"read the {what} logs of the nodes named on the master, fix the "
                               "cause, then re-run upgrade-node: the nodes that failed are done again, the "
                               "others are not (kept volumes stay kept)") from None


def provision(ctx: Context, step: Step, names: list[str], planned: dict[str, Any]) -> dict[str, Any]:
    """The batch's nodes provisioned with 7.0: a running provisioning is waited for, a node whose
    provisioning failed is provisioned again (its kept volumes checked first)."""
    seed = seed_id(ctx)
    ids = [planned["nodes"][n] for n in names]
    running = ctx.fuel.running_task(seed)
    if running is not None:
        wait_task(ctx, step, running, ids, PROVISION_TIMEOUT, "provisioning")
    nodes = fuel_nodes(ctx, names, planned)
    again = [n for n in names if nodes[n].get("status") == "error" and nodes[n].get("error_type") == "provision"]
    if again:
        for node_id, volumes in keep(again, planned).items():
            kept = ctx.fuel.kept_volumes(node_id)
            if not all(kept.get(v) for v in volumes):
                raise UpgradeNodeError(f"node {node_id} must keep {volumes}, Fuel says {kept}",
                                       "mark the volumes keep_data (fuel2 node disks), then re-run")
        task = ctx.fuel.provision_nodes(seed, [planned["nodes"][n] for n in again])
        wait_task(ctx, step, task, [planned["nodes"][n] for n in again], PROVISION_TIMEOUT, "provisioning")
    found = ctx.fuel.wait_nodes(ids, ("provisioned", "ready", "error"), PROVISION_TIMEOUT)
    bad = [n for n in found if n["status"] == "error"]
    if bad:
        raise FuelError("provisioning left node(s) in error: " + ", ".join(
            f"{n['hostname']} ({n.get('error_type')})" for n in bad),
            "read their provisioning logs on the master, fix the cause, then re-run upgrade-node "
            "(the node is provisioned again; its kept volumes stay)")
    return {"provisioned again": again, "status": {n["hostname"]: n["status"] for n in found}}


def deploy(ctx: Context, step: Step, names: list[str], planned: dict[str, Any]) -> dict[str, Any]:
    """The batch's nodes deployed in the seed (those not ready yet)."""
    seed = seed_id(ctx)
    ids = [planned["nodes"][n] for n in names]
    running = ctx.fuel.running_task(seed, ("deploy", "deployment"))
    if running is not None:
        wait_task(ctx, step, running, ids, DEPLOY_TIMEOUT, "deployment")
    nodes = fuel_nodes(ctx, names, planned)
    todo = [planned["nodes"][n] for n in names if nodes[n].get("status") != "ready"]
    if todo:
        task = ctx.fuel.deploy_nodes(seed, todo)
        wait_task(ctx, step, task, todo, DEPLOY_TIMEOUT, "deployment")
    found = ctx.fuel.wait_nodes(ids, "ready", DEPLOY_TIMEOUT)
    return {"deployed": todo, "status": {n["hostname"]: n["status"] for n in found}}


# --------------------------------------------------------------------------- 2. per batch: back in service


def pin(ctx: Context, computes: list[str]) -> dict[str, Any]:
    """The RPC pin back in each deployed compute's nova.conf (deployment wrote it without), nova-compute
    restarted to read it; the seed controllers' pin checked (and put back where a deployment dropped it)."""
    def one(host: str) -> bool:
        changed = upgrade_control.set_conf(ctx, host, NOVA_CONF, PIN)
        upstart.restart(ctx.pool, host, "nova-compute")
        return changed

    seen = ctx.pool.fan_out(computes, one)
    if seen.errors:
        raise UpgradeNodeError("the RPC pin could not be put back: " + "; ".join(
            f"{h}: {e}" for h, e in sorted(seen.errors.items())), f"check {NOVA_CONF} on them, then re-run")
    controllers = upgrade_control.pin_seed(ctx, upgrade_control.seed_controllers(ctx))
    return {"computes": seen.results, "seed controllers restarted": controllers["restarted"]}


def compute_up(ctx: Context, host: str) -> dict[str, Any]:
    """The deployed compute reports to the seed: nova-compute up, its OVS agent alive."""
    found: dict[str, Any] = {}

    def problems() -> list[str]:
        conn = seed_cloud(ctx)
        service = cloud.compute_service(conn, host)
        agents = [a for a in cloud.network_agents(conn, host) if a["host"] == host
                  and a["binary"] == upgrade_control.COMPUTE_AGENT]
        found.update(service=service, agents=agents)
        out = [] if service["state"] == "up" else [f"nova-compute of {host} is {service['state']}"]
        if not any(a["alive"] for a in agents):
            out.append(f"no live {upgrade_control.COMPUTE_AGENT} on {host}")
        return out

    upgrade_control.wait_until(f"{host} in the seed's control plane", problems, COMPUTE_TIMEOUT,
                               f"read nova-compute's and the OVS agent's logs on {host} (RabbitMQ, RPC pin)")
    return {"host": host, "state": found["service"]["state"], "agents": len(found["agents"])}


def enable(ctx: Context, host: str, disabled: dict[str, Any]) -> dict[str, Any]:
    """nova-compute enabled again, if octane disabled it."""
    if not disabled.get("disabled_by_octane"):
        return {"host": host, "left": "disabled, as it was before upgrade-node"}
    after = cloud.enable_compute(seed_cloud(ctx), host)
    if after["status"] != "enabled":
        raise UpgradeNodeError(f"nova-compute of {host} is {after['status']} after service-enable",
                               "check nova-api's log, then re-run")
    return {"host": host, "status": after["status"]}


def release_of(ctx: Context, node: str) -> str:
    return ctx.pool.read_text(node, FUEL_RELEASE).strip()


def node_problems(ctx: Context, names: list[str], planned: dict[str, Any]) -> list[str]:
    """Each node in the seed env, ready, online, with its roles, running 7.0."""
    seed = seed_id(ctx)
    nodes = fuel_nodes(ctx, names, planned)
    releases = ctx.pool.fan_out([n for n in names if n in nodes], lambda n: release_of(ctx, n),
                                max_workers=MAX_SOURCES)
    problems = []
    for name in names:
        node = nodes.get(name)
        if node is None:
            problems.append(f"{name}: Fuel no longer lists it")
            continue
        if node.get("cluster") != seed or node.get("status") != "ready" or not node.get("online"):
            problems.append(f"{name}: env {node.get('cluster')}, {node.get('status')}, "
                            f"{'online' if node.get('online') else 'offline'} (wanted: env {seed}, ready, online)")
        if sorted(node.get("roles") or []) != planned["roles"][name]:
            problems.append(f"{name}: roles {node.get('roles')}, was {planned['roles'][name]}")
        if name in releases.errors:
            problems.append(f"{name}: {FUEL_RELEASE} unreadable: {releases.errors[name]}")
        elif releases.results.get(name) != TO_VERSION:
            problems.append(f"{name}: runs {releases.results.get(name)}, not {TO_VERSION}")
    return problems


def moved_vm_problems(ctx: Context, moved: list[dict[str, str]]) -> list[str]:
    """The VMs the batch moved: ACTIVE where nova says, answering on their floating IP."""
    if not moved:
        return []
    conn = seed_cloud(ctx)
    targets = sorted({m["to"] for m in moved})
    # A few targets: asked of nova one by one; many: one listing of every server costs less.
    found = [s for host in targets for s in cloud.servers(conn, host)] if len(targets) <= 3 else cloud.servers(conn)
    listed = {s["id"]: s for s in found}
    problems = []
    for move in moved:
        server = listed.get(move["vm"])
        if server is None:
            problems.append(f"VM {move['vm']} is not listed on {move['to']}")
            continue
        if server["status"] != "ACTIVE" or server["host"] == move["from"]:
            problems.append(f"VM {move['vm']} is {server['status']} on {server['host']}")
        floating = [row[1] for row in server["addresses"] if len(row) > 2 and row[2] == "floating"]
        if floating and move["vm"] not in (network.tcp_banner(floating[0], ctx.target.vm_probe_port,
                                                              PROBE_TIMEOUT) or ""):
            problems.append(f"VM {move['vm']} does not answer on {floating[0]}")
    return problems


def verify_batch(ctx: Context, names: list[str], computes: list[str], planned: dict[str, Any],
                 moved: list[dict[str, str]]) -> dict[str, Any]:
    problems = node_problems(ctx, names, planned)
    pins = ctx.pool.fan_out(computes, lambda h: upgrade_control.pinned(ctx, h), max_workers=MAX_SOURCES)
    problems += [f"{h}: no pin in {NOVA_CONF}" for h in computes if not pins.results.get(h)]
    problems += moved_vm_problems(ctx, moved)
    if problems:
        raise UpgradeNodeError("the batch is not as it should be: " + "; ".join(problems[:15]),
                               "fix what is named, then re-run upgrade-node (done steps are not repeated)")
    return {"nodes": names, "vms": len(moved)}


# --------------------------------------------------------------------------- the stage


def _optional_fact(ctx: Context, key: str, default: Any) -> Any:
    return ctx.journal.fact_or(key, default)


def _waiting_step(stage: Stage, hook: Hook, name: str, fn: Callable[..., Any], ctx: Context, *args: Any) -> Any:
    """A step that records progress evidence while it waits (it gets its journal step)."""
    started = time.monotonic()
    with stage.step(name) as step:
        if not step.done:
            step.result = fn(ctx, step, *args)
    log.info("%s env %s: %s (%.1f s)", STAGE, ctx.env_id, name, time.monotonic() - started)
    hook(name, step.result)
    return step.result


def _each(stage: Stage, hook: Hook, ctx: Context, hosts: list[str], what: str,
          fn: Callable[[str], Any]) -> dict[str, Any]:
    """The step `<host>: <what>` for every host, in parallel (each journaled on its own: a re-run
    repeats only those not done); the failures, if any, raised together once all ran."""
    started = time.monotonic()
    seen = ctx.pool.fan_out(hosts, lambda host: stage.call(f"{host}: {what}", fn, host), max_workers=MAX_SOURCES)
    log.info("%s env %s: %s on %d compute(s) (%.1f s)", STAGE, ctx.env_id, what, len(hosts),
             time.monotonic() - started)
    for host in hosts:
        if host in seen.results:
            hook(f"{host}: {what}", seen.results[host])
    if seen.errors:
        first = next(iter(seen.errors.values()))
        if len(seen.errors) == 1 and isinstance(first, OctaneError):
            raise first
        raise UpgradeNodeError(f"{what} failed on " + "; ".join(f"{h}: {e}" for h, e in sorted(seen.errors.items())),
                               "fix the computes named, then re-run upgrade-node: done steps are not repeated")
    return seen.results


def upgraded(stage: Stage) -> set[str]:
    """The nodes whose last step (`<node>: upgraded`) is done."""
    suffix = ": upgraded"
    return {name[: -len(suffix)] for name, step in stage.record["steps"].items()
            if name.endswith(suffix) and step["status"] == "done"}


def run_batch(stage: Stage, hook: Hook, ctx: Context, index: int, batch: batches.Batch,
              planned: dict[str, Any]) -> list[str]:
    """One batch, start to end; the OSD nodes it reinstalled."""
    names = batch.nodes
    computes = batch.computes
    osd = [n for n in names if OSD in planned["roles"][n]]
    label = f"batch {index} [{' '.join(names)}]"
    moved: list[dict[str, str]] = []
    disabled = {}
    if computes:
        fresh = stage.step_status(f"{label}: migrate") == "pending"
        planned_moves = run_step(stage, hook, f"{label}: moves", moves, ctx, computes)
        disabled = _each(stage, hook, ctx, computes, "disable", lambda h: disable(ctx, h))
        moved = _waiting_step(stage, hook, f"{label}: migrate", migrate, ctx, computes, planned["shared_storage"],
                              planned_moves if fresh else None)
        _each(stage, hook, ctx, computes, "empty", lambda h: empty(ctx, h))
    before = {}
    for node in osd:
        run_step(stage, hook, f"{node}: noout", noout, ctx, node)
        before[node] = run_step(stage, hook, f"{node}: osds before", osds_before, ctx, node, planned)["osd_ids"]
    _waiting_step(stage, hook, f"{label}: reassign", reassign, ctx, names, planned)
    _waiting_step(stage, hook, f"{label}: provision", provision, ctx, names, planned)
    _waiting_step(stage, hook, f"{label}: deploy", deploy, ctx, names, planned)
    if computes:
        run_step(stage, hook, f"{label}: rpc pin", pin, ctx, computes)
        _each(stage, hook, ctx, computes, "nova-compute up", lambda h: compute_up(ctx, h))
        _each(stage, hook, ctx, computes, "enable", lambda h: enable(ctx, h, disabled[h]))
    for node in osd:
        run_step(stage, hook, f"{node}: osds back", osds_back, ctx, node, before[node])
    run_step(stage, hook, f"{label}: verify", verify_batch, ctx, names, computes, planned, moved)
    for node in names:
        run_step(stage, hook, f"{node}: upgraded", lambda n=node: {"node": n, "at": time.time()})
    return osd


def remaining(ctx: Context, planned: dict[str, Any]) -> list[str]:
    """Planned nodes Fuel still lists in the original env."""
    nodes = {n["id"]: n for n in ctx.fuel.nodes(ctx.env_id)}
    return [name for name, node_id in planned["nodes"].items() if node_id in nodes]


def verify(ctx: Context, planned: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The nodes of this run in the seed on 7.0, Ceph healthy without noout."""
    problems = node_problems(ctx, names, planned)
    state = ceph_problems(ctx)
    problems += state["problems"]
    if "noout" in ceph.flags(ctx.pool, ceph_node(ctx)) and _optional_fact(ctx, NOOUT_FACT, {}).get("by") != "operator":
        problems.append("noout is still set")
    if problems:
        raise UpgradeNodeError("upgrade-node did not leave the nodes as it should: " + "; ".join(problems[:15]),
                               "fix what is named, then re-run upgrade-node")
    return {"nodes": names, "health": state["health"]}


def _recorded_seed(ctx: Context) -> int | None:
    try:
        return int(ctx.journal.fact(SEED_FACT))
    except JournalError:
        return None


def run(ctx: Context, nodes: list[int] | None = None, step_hook: Hook | None = None) -> dict[str, Any]:
    """upgrade-node: the selected (default: every) compute and OSD node of the original env reinstalled
    in the seed on 7.0, batch by batch as planned. A re-run continues."""
    env_id = ctx.facts.env()["id"]
    hook = step_hook or (lambda name, result: None)
    inputs = {"env_id": env_id, "seed_env_id": _recorded_seed(ctx)}
    with ctx.journal.stage(STAGE, inputs=inputs, requires=[PREVIOUS]) as stage:
        planned = run_step(stage, hook, "plan", make_plan, ctx)
        plan = batches.Plan.from_dict(planned["plan"])
        chosen = select(ctx, planned, nodes, upgraded(stage))
        osd_done: list[str] = []
        for index, batch in enumerate(plan.batches, 1):
            cut = batches.restrict(batches.Plan([batch], plan.costs, 0, 0), chosen)
            if cut:
                osd_done += run_batch(stage, hook, ctx, index, cut[0], planned)
        if osd_done:
            run_step(stage, hook, f"noout unset after {' '.join(osd_done)}", unset_noout, ctx)
        if chosen:
            run_step(stage, hook, f"verify {' '.join(chosen)}", verify, ctx, planned, chosen)
        left = remaining(ctx, planned)
        if left:
            ids = " ".join(str(planned["nodes"][n]) for n in left)
            raise UpgradeNodeError(
                f"upgrade-node is not complete: {len(left)} node(s) still in the original env: {', '.join(left)}",
                f"run `octane upgrade-node {seed_id(ctx)}` for all of them (or name them: {ids}); "
                "done nodes are not touched again")
        return {"seed_env_id": seed_id(ctx), "nodes": list(planned["nodes"]), "this run": chosen,
                "batches": len(plan.batches)}


def recorded_plan(ctx: Context) -> dict[str, Any] | None:
    """The plan step's result (the batches, nodes, OSD ids per node), None before the first run."""
    step = ctx.journal.stage_record(STAGE).get("steps", {}).get("plan", {})
    return step.get("result") if step.get("status") == "done" else None

