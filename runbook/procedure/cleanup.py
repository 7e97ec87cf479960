"""Stage 7, cleanup (`octane cleanup-env SEED`, `octane cleanup-fuel`): the seed env alone, the master reverted.

After stage 6 the seed env holds every compute and OSD node on 7.0 and serves
the cloud; what is left of the upgrade is in its way:

- the seed's nova and neutron databases, copied from the original, still list
  the original controllers' services and agents (and any host that left the
  cloud), dead for ever: `nova service-list` and `neutron agent-list` show them
  down, and the schedulers and monitoring count them;
- `[upgrade_levels] compute=juno` still pins the compute RPC on every seed
  controller and compute, although no Juno compute is left: Kilo's own RPC is
  not used until the pin goes and the nova services restart to read it;
- the Fuel master keeps what prepare enabled for the upgrade.

The env half (cleanup-env), steps journaled under `env: ...`:

1. `env: preconditions` (no change; a refusal here changed nothing): every
   compute and OSD node of the baseline is in the seed env (stage 6 left none
   behind); every compute of the seed runs Kilo's nova-compute (a Juno one
   works only because of the pin); which services and agents are stale: those
   whose host is not a node of the seed env as Fuel lists it (what an operator
   can check: `fuel2 node list --env SEED`), refused when a stale nova-compute
   still hosts a VM (deleting it orphans the VM) or a stale service or agent is
   up (it still runs and reports to the seed: it would register again); and
   when each nova service that reads nova.conf on the seed's controllers and
   computes last started (`status JOB`, `ps -o lstart`), so that a restart can
   be told from none.
2. `env: delete stale nova services`, `env: delete stale neutron agents`
   (read again, so a re-run deletes only what is left).
3. `env: <node>: rpc pin removed`, per seed controller then per compute, in
   parallel: the pin removed from nova.conf (over SFTP, the rest of the file
   kept) and the nova services that read it restarted (the controllers' nova
   jobs that run, the computes' nova-compute).
4. `env: nova-compute up`: every compute's nova-compute up in the seed's API
   again (waited for, with a deadline).
5. `env: verify`: nothing stale, no pin, every nova service restarted since
   step 1.
6. `env: compare with the baseline`: the seed against stage 0's baseline (see
   `resource_drift` and `settings_drift` for what is compared, and what the 7.0
   release or the upgrade change by design and is therefore not).

The fuel half (cleanup-fuel), after the env half:

7. `fuel: revert master`: `prepare.revert` disables the Nailgun extensions
   prepare enabled for the original env; the seed env, which inherited them with
   the clone, loses them too. The DB dumps are kept: they are the only copy of
   the pre-upgrade databases (the original's MySQL is stopped); the step's
   evidence says where they are.
8. `fuel: verify`: the extensions as before prepare; the dumps still there,
   unchanged (sha256 as recorded when they were taken).

Why one stage with two halves, and `--cleanup-part env|fuel|all`: DESIGN's
stage7_cleanup covers both spec commands, and the journal keeps one record per
stage. `octane cleanup-env SEED` runs the stage module with `--cleanup-part
env`, `octane cleanup-fuel` with `--cleanup-part fuel`, `pytest runbook/stages`
with the default `all`. The part is not a journal input (the two runs of one
stage have the same inputs); the steps done say which halves ran. The stage is
done only when both did: after the env half alone the run ends with
`CleanupPending` (the stage is recorded failed with that message, which names
the command that completes it), and the fuel half refuses to start before the
env half is done (the master is reverted last, once the env no longer needs
anything from it).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import JournalError, OctaneError
from runbook.journal import DONE, Stage
from runbook.lib import apt, cloud, ini, ssh, upstart
from runbook.procedure import (
    fuelstate,
    preflight,
    prepare,
    upgrade_control,
    upgrade_db,
    upgrade_env,
    upgrade_node,
)
from runbook.procedure.context import Context, Hook, run_step

if TYPE_CHECKING:
    from openstack.connection import Connection

log = logging.getLogger(__name__)

STAGE = "stage7_cleanup"
PREVIOUS = upgrade_node.STAGE
PARTS = ("env", "fuel", "all")
ENV_DONE = "env: compare with the baseline"  # the env half's last step
FUEL_DONE = "fuel: verify"  # the fuel half's last step
NOVA_CONF = upgrade_control.NOVA_CONF
PIN_OPTION = {"upgrade_levels": ["compute"]}
CONTROLLER_JOBS = upgrade_control.SEED_NOVA_JOBS  # nova services of a controller that read nova.conf
COMPUTE_JOB = "nova-compute"
COMPUTE, OSD = upgrade_node.COMPUTE, upgrade_node.OSD
KILO = upgrade_control.KILO
COMPUTE_TIMEOUT = 600.0  # seconds for the restarted nova-computes to report up again
MAX_NODES = 32  # nodes edited and restarted at once

# The baseline's resources compared with the seed's. Left out, by design of the upgrade:
# `compute_services` (the original controllers' services go, the seed controllers' are new) and
# `hypervisors` (running_vms follows where stage 6 live-migrated the VMs).
COMPARED = ("servers", "flavors", "volumes", "images", "networks", "subnets", "ports", "routers", "floating_ips",
            "security_groups", "projects", "users", "stacks", "quotas")
# Fields the upgrade changes on purpose: stage 6 live-migrated every VM to another compute.
MOVED_FIELDS = {"servers": ("host", "hypervisor_hostname")}
DHCP_OWNER = "network:dhcp"  # DHCP ports belong to the DHCP agents, which are the seed controllers' now
# Env fields the clone changes on purpose: a new id, `<name>-upgrade`, the 7.0 release.
ENV_CHANGED = ("id", "name", "release_id")


class CleanupError(OctaneError):
    """cleanup cannot go on, or did not leave the seed as it should: what is wrong, and what to do."""


class CleanupPending(OctaneError):
    """The env half is done; the stage completes with the fuel half."""


# --------------------------------------------------------------------------- pure logic


def short(host: Any) -> str:
    """A host as nova and neutron register it (`node-1` or `node-1.domain.tld`) -> Fuel's hostname."""
    return str(host or "").split(".")[0]


def stale(services: list[dict[str, Any]], agents: list[dict[str, Any]], seed_hosts: set[str]) -> dict[str, Any]:
    """The nova services and neutron agents registered under a host that is not a node of the seed env."""
    return {"services": [s for s in services if short(s["host"]) not in seed_hosts],
            "agents": [a for a in agents if short(a["host"]) not in seed_hosts]}


def stale_refusals(found: dict[str, Any], servers: list[dict[str, Any]]) -> list[str]:
    """Why a stale service or agent must not be deleted: a nova-compute still hosting VMs (they would
    be orphaned), or one that is up (its daemon still reports to the seed: it would register again)."""
    hosting = Counter(short(s.get("host")) for s in servers)
    problems = []
    for service in found["services"]:
        where = f"{service['binary']} of {service['host']} (not a node of the seed env)"
        if service["binary"] == COMPUTE_JOB and hosting[short(service["host"])]:
            problems.append(f"{where} hosts {hosting[short(service['host'])]} VM(s): migrate them to a "
                            "compute of the seed first")
        if service["state"] == "up":
            problems.append(f"{where} is up: stop it on {service['host']} (or move the node into the seed env)")
    problems += [f"{a['binary']} of {a['host']} (not a node of the seed env) is alive: stop it there "
                 "(or move the node into the seed env)" for a in found["agents"] if a["alive"]]
    return problems


def juno_computes(versions: dict[str, str | None]) -> list[str]:
    """Computes whose nova-compute is not Kilo's ({host: installed version, None when not installed})."""
    return [f"{host}: nova-compute {version or 'not installed'} is not Kilo's: the RPC pin is what keeps it "
            "working" for host, version in sorted(versions.items()) if not (version or "").startswith(KILO)]


def left_outside(baseline_nodes: list[dict[str, Any]], seed_nodes: list[dict[str, Any]]) -> list[str]:
    """The baseline's computes and OSD nodes that are not in the seed env."""
    in_seed = {n["hostname"] for n in seed_nodes}
    return [n["hostname"] for n in baseline_nodes
            if set(n.get("roles") or []) & {COMPUTE, OSD} and n["hostname"] not in in_seed]


def not_restarted(before: dict[str, dict[str, str | None]],
                  now: dict[str, dict[str, datetime | None]]) -> list[str]:
    """The nova services that did not start since `before` (both {node: {job: start time}})."""
    problems = []
    for node, jobs in sorted(before.items()):
        for job, then in sorted(jobs.items()):
            started = now.get(node, {}).get(job)
            if started is None:
                problems.append(f"{node}: {job} does not run")
            elif then is not None and started <= datetime.fromisoformat(then):
                problems.append(f"{node}: {job} runs since {started:%Y-%m-%d %H:%M:%S}, not restarted since "
                                f"{then} (it still runs with the nova.conf it read then)")
    return problems


def _comparable(name: str, rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """Rows by id, without what the upgrade changes by design."""
    if name == "ports":
        rows = [r for r in rows if r.get("device_owner") != DHCP_OWNER]
    drop = MOVED_FIELDS.get(name, ())
    out = {}
    for row in rows:
        row = {k: v for k, v in row.items() if k not in drop}
        if name == "volumes":  # an attachment's host is the compute the VM runs on: stage 6 moved it
            row["attachments"] = [{k: v for k, v in a.items() if k != "host"} for a in row.get("attachments", [])]
        out[row["id"]] = row
    return out


def resource_drift(before: dict[str, list[dict[str, Any]]], now: dict[str, list[dict[str, Any]]]) -> list[str]:
    """How the seed's resources differ from the baseline's (COMPARED, MOVED_FIELDS say what counts);
    a resource created since is not drift (the cloud served tenants throughout)."""
    problems = []
    for name in COMPARED:
        if name not in before:
            continue
        old, new = _comparable(name, before[name]), _comparable(name, now.get(name, []))
        for key, row in old.items():
            if key not in new:
                problems.append(f"{name} {key} ({row.get('name', '')}): gone")
            else:
                problems += [f"{name} {key}.{d}" for d in fuelstate.differences(row, new[key])]
    return problems


def role_census(nodes: list[dict[str, Any]]) -> dict[str, int]:
    return dict(sorted(Counter(role for n in nodes for role in n.get("roles") or []).items()))


def settings_drift(before: dict[str, Any], seed: dict[str, Any]) -> list[str]:
    """How the seed env, as Fuel describes it (`fuelstate.env_state`), differs from the baseline's env.

    By design of the 7.0 release and the clone, not compared: the env's id, name and release;
    `release.version` (upgrade_env.CHANGED_BY_CLONE); settings one release has and the other has not
    (7.0 adds some, drops a few: only those both have can be carried); the nodes' ids and hostnames
    (new controllers). Compared: the env's mode and networking, every shared setting, every baseline
    network and VIP, the shared networking parameters, how many nodes hold each role."""
    problems = [f"env {k}: {before['env'].get(k)!r} -> {seed['env'].get(k)!r}" for k in fuelstate.ENV_FIELDS
                if k not in ENV_CHANGED and before["env"].get(k) != seed["env"].get(k)]
    old, new = before["attributes"], seed["attributes"]
    for section in sorted(set(old) & set(new)):
        for key in sorted(set(old[section]) & set(new[section])):
            if (section, key) not in upgrade_env.CHANGED_BY_CLONE and old[section][key] != new[section][key]:
                problems.append(f"settings {section}.{key}: {old[section][key]!r} -> {new[section][key]!r}")
    net_old, net_new = before["network"], seed["network"]
    for name, network in sorted(net_old["networks"].items()):
        problems += [f"network {d}" for d in fuelstate.differences({name: network},
                                                                   {name: net_new["networks"].get(name)})]
    shared = sorted(set(net_old["parameters"]) & set(net_new["parameters"]))
    problems += [f"network parameters {d}" for d in fuelstate.differences(
        {k: net_old["parameters"][k] for k in shared}, {k: net_new["parameters"][k] for k in shared})]
    problems += [f"network vips {d}" for d in fuelstate.differences(
        net_old["vips"], {k: net_new["vips"].get(k) for k in net_old["vips"]})]
    census = (role_census(before["nodes"]), role_census(seed["nodes"]))
    if census[0] != census[1]:
        problems.append(f"roles: the baseline had {census[0]}, the seed has {census[1]}")
    return problems


# --------------------------------------------------------------------------- reads of the world


def seed_id(ctx: Context) -> int:
    return upgrade_control.seed_id(ctx)


def seed_cloud(ctx: Context) -> Connection:
    return upgrade_control.seed_cloud(ctx)


def seed_nodes(ctx: Context) -> list[dict[str, Any]]:
    return ctx.fuel.nodes(seed_id(ctx))


def seed_computes(ctx: Context) -> list[str]:
    return upgrade_control._sorted_hosts([n["hostname"] for n in seed_nodes(ctx)
                                          if COMPUTE in (n.get("roles") or [])])


def seed_controllers(ctx: Context) -> list[str]:
    return upgrade_control.seed_controllers(ctx)


def find_stale(ctx: Context, conn: Connection) -> dict[str, Any]:
    """The stale services and agents of the seed's APIs now."""
    hosts = {n["hostname"] for n in seed_nodes(ctx)}
    return stale(cloud.compute_services(conn), cloud.network_agents(conn), hosts)


def pins(ctx: Context, nodes: list[str]) -> dict[str, bool]:
    """{node: its nova.conf still pins the compute RPC}."""
    seen = ctx.pool.fan_out(nodes, lambda node: "compute" in ini.options(
        ctx.pool.read_text(node, NOVA_CONF)).get("upgrade_levels", {}), max_workers=MAX_NODES)
    if seen.errors:
        raise CleanupError(f"{NOVA_CONF} cannot be read: " + "; ".join(
            f"{n}: {e}" for n, e in sorted(seen.errors.items())), "check SSH to those nodes")
    return seen.results


def nova_jobs(ctx: Context, node: str, controller: bool) -> list[str]:
    """The nova services of the node that read nova.conf: the running nova jobs of a controller,
    nova-compute on a compute."""
    if not controller:
        return [COMPUTE_JOB]
    return sorted(job for job, on in upstart.jobs(ctx.pool, node).items() if on and job in CONTROLLER_JOBS)


def start_times(ctx: Context, jobs: dict[str, list[str]]) -> dict[str, dict[str, datetime | None]]:
    """{node: {job: when its running process started (None: it does not run)}}."""
    seen = ctx.pool.fan_out(list(jobs), lambda node: upstart.started(ctx.pool, node, jobs[node]),
                            max_workers=MAX_NODES)
    if seen.errors:
        raise CleanupError("the nova services' start times cannot be read: " + "; ".join(
            f"{n}: {e}" for n, e in sorted(seen.errors.items())), "check SSH to those nodes")
    return seen.results


def recorded_start_times(ctx: Context) -> dict[str, dict[str, str | None]] | None:
    """What `env: preconditions` recorded (None before it ran)."""
    step = ctx.journal.stage_record(STAGE).get("steps", {}).get("env: preconditions", {})
    return step["result"]["started before"] if step.get("status") == DONE else None


def dumps(ctx: Context) -> dict[str, dict[str, Any]]:
    """The DB dumps the upgrade took ({what: {path, sha256}}), as the journal recorded them: the
    preflight backup and upgrade-db's dump, the only copies of the pre-upgrade databases."""
    found = {}
    backup = (preflight.recorded_results(ctx).get("db_backup") or {}).get("evidence") or {}
    if backup.get("path"):
        found["preflight backup"] = {"path": backup["path"], "sha256": backup.get("sha256")}
    dump = upgrade_db.recorded_dump(ctx)
    if dump is not None:
        found["upgrade-db dump"] = {"path": dump["path"], "sha256": dump["sha256"]}
    return found


def dump_problems(ctx: Context) -> list[str]:
    """Each recorded dump on the master, with the sha256 recorded when it was taken."""
    found = dumps(ctx)
    problems = [] if "upgrade-db dump" in found else ["the journal records no upgrade-db dump"]
    for what, record in found.items():
        path = Path(record["path"])
        if not path.is_file():
            problems.append(f"the {what} {path} is gone")
        elif ssh.local_sha256(path) != record["sha256"]:
            problems.append(f"the {what} {path} is not the one taken (sha256 differs)")
    return problems


def extension_state(ctx: Context) -> dict[str, Any]:
    """The extensions of the original and the seed env next to what prepare recorded."""
    record = prepare.recorded(ctx)
    return {"before prepare": record.get(prepare.EXTENSIONS_BEFORE), "prepare enabled": record.get(prepare.ENABLE),
            "original now": ctx.fuel.env_extensions(ctx.env_id), "seed now": ctx.fuel.env_extensions(seed_id(ctx))}


def extension_problems(state: dict[str, Any]) -> list[str]:
    """The master as before prepare: the original env's extensions are those it had, and the seed has
    none of those prepare enabled (it inherited them with the clone)."""
    if state["before prepare"] is None or state["prepare enabled"] is None:
        return ["the journal does not record what prepare enabled: nothing can be reverted exactly"]
    problems = []
    if sorted(state["original now"]) != sorted(state["before prepare"]):
        problems.append(f"env extensions {sorted(state['original now'])}, before prepare "
                        f"{sorted(state['before prepare'])}")
    left = sorted(set(state["prepare enabled"]) & set(state["seed now"]))
    if left:
        problems.append(f"the seed env still has {left}, which prepare enabled")
    return problems


# --------------------------------------------------------------------------- the env half


def preconditions(ctx: Context) -> dict[str, Any]:
    """What cleanup-env works on, checked before anything changes."""
    seed = seed_id(ctx)
    controllers, computes = seed_controllers(ctx), seed_computes(ctx)
    baseline = preflight.recorded_baseline(ctx)
    problems = [f"{name} of the baseline is not in the seed env {seed}: run upgrade-node for it"
                for name in left_outside(baseline["fuel"]["nodes"], seed_nodes(ctx))]
    if not computes:
        problems.append(f"the seed env {seed} has no compute")
    versions = ctx.pool.fan_out(computes, lambda h: apt.versions(ctx.pool, h, [COMPUTE_JOB]).get(COMPUTE_JOB),
                                max_workers=MAX_NODES)
    problems += [f"{h}: its packages cannot be read: {e}" for h, e in sorted(versions.errors.items())]
    problems += juno_computes(versions.results)
    conn = seed_cloud(ctx)
    found = find_stale(ctx, conn)
    problems += stale_refusals(found, cloud.servers(conn))
    if problems:
        raise CleanupError("cleanup-env cannot start: " + "; ".join(problems),
                           "fix what is named, then run cleanup-env again; nothing was changed")
    jobs = {node: nova_jobs(ctx, node, controller=True) for node in controllers}
    jobs.update({node: [COMPUTE_JOB] for node in computes})
    before = start_times(ctx, jobs)
    return {"seed_env_id": seed, "seed controllers": controllers, "computes": computes,
            "stale services": [f"{s['binary']}@{s['host']} (id {s['id']})" for s in found["services"]],
            "stale agents": [f"{a['binary']}@{a['host']} (id {a['id']})" for a in found["agents"]],
            "started before": {node: {job: when.isoformat() if when else None for job, when in times.items()}
                               for node, times in before.items()}}


def delete_services(ctx: Context) -> list[str]:
    """Every stale nova service deleted (read again: a re-run deletes what is left)."""
    conn = seed_cloud(ctx)
    found = find_stale(ctx, conn)
    refused = stale_refusals({"services": found["services"], "agents": []}, cloud.servers(conn))
    if refused:
        raise CleanupError("stale nova services cannot be deleted: " + "; ".join(refused),
                           "fix what is named, then re-run cleanup-env")
    for service in found["services"]:
        cloud.delete_compute_service(conn, service["id"])
    return [f"{s['binary']}@{s['host']}" for s in found["services"]]


def delete_agents(ctx: Context) -> list[str]:
    """Every stale neutron agent deleted (their router and network bindings go with them)."""
    conn = seed_cloud(ctx)
    found = find_stale(ctx, conn)
    refused = stale_refusals({"services": [], "agents": found["agents"]}, [])
    if refused:
        raise CleanupError("stale neutron agents cannot be deleted: " + "; ".join(refused),
                           "fix what is named, then re-run cleanup-env")
    for agent in found["agents"]:
        cloud.delete_network_agent(conn, agent["id"])
    return [f"{a['binary']}@{a['host']}" for a in found["agents"]]


def unpin(ctx: Context, node: str, controller: bool) -> dict[str, Any]:
    """The pin out of the node's nova.conf (the rest of the file kept), then the nova services that read
    it restarted, whether this run or an earlier one removed it (a re-run of this step must restart)."""
    removed = ctx.pool.edit(node, NOVA_CONF, lambda text: ini.remove_options(text, PIN_OPTION))
    jobs = nova_jobs(ctx, node, controller)
    for job in jobs:
        upstart.restart(ctx.pool, node, job)
    return {"node": node, "pin removed": removed, "restarted": jobs}


def computes_up(ctx: Context, computes: list[str]) -> dict[str, str]:
    """Every compute's nova-compute up in the seed's API again (it restarted)."""
    found: dict[str, str] = {}

    def problems() -> list[str]:
        services = {s["host"]: s for s in cloud.compute_services(seed_cloud(ctx)) if s["binary"] == COMPUTE_JOB}
        found.clear()
        found.update({h: services[h]["state"] if h in services else "not listed" for h in computes})
        return [f"nova-compute of {h} is {state}" for h, state in found.items() if state != "up"]

    upgrade_control.wait_until("every nova-compute up in the seed", problems, COMPUTE_TIMEOUT,
                               "read nova-compute's log on those computes (RabbitMQ, nova.conf), then re-run")
    return dict(found)


def verify_env(ctx: Context, pre: dict[str, Any]) -> dict[str, Any]:
    """Nothing stale, no pin left, every nova service restarted since the preconditions."""
    found = find_stale(ctx, seed_cloud(ctx))
    problems = [f"stale: {s['binary']}@{s['host']}" for s in found["services"]]
    problems += [f"stale: {a['binary']}@{a['host']}" for a in found["agents"]]
    nodes = pre["seed controllers"] + pre["computes"]
    problems += [f"{n}: [upgrade_levels] compute still in {NOVA_CONF}" for n, on in pins(ctx, nodes).items() if on]
    before = pre["started before"]
    problems += not_restarted(before, start_times(ctx, {n: list(jobs) for n, jobs in before.items()}))
    if problems:
        raise CleanupError("cleanup-env did not leave the seed as it should: " + "; ".join(problems[:15]),
                           "fix what is named, then re-run cleanup-env (done steps are not repeated)")
    return {"nodes unpinned": nodes, "restarted": sum(len(j) for j in before.values())}


def read_resources(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    return {name: cloud.BASELINE[name](conn) for name in COMPARED}


def compare(ctx: Context) -> dict[str, Any]:
    """The seed env against stage 0's baseline: its resources and its Fuel settings."""
    baseline = preflight.recorded_baseline(ctx)
    drift = resource_drift(baseline["cloud"], read_resources(seed_cloud(ctx)))
    drift += settings_drift(baseline["fuel"], fuelstate.env_state(ctx.fuel, seed_id(ctx)))
    if drift:
        raise CleanupError(f"the seed env differs from the baseline: {'; '.join(drift[:20])}"
                           + (f" (and {len(drift) - 20} more)" if len(drift) > 20 else ""),
                           "find who changed it (or what the upgrade lost), put it back, then re-run cleanup-env")
    return {"compared": {name: len(baseline["cloud"].get(name, [])) for name in COMPARED},
            "settings": sum(len(v) for v in baseline["fuel"]["attributes"].values())}


# --------------------------------------------------------------------------- the fuel half


def revert_master(ctx: Context) -> dict[str, Any]:
    """prepare's extensions disabled on the original env, and on the seed (inherited with the clone);
    the DB dumps kept where they are."""
    reverted = prepare.revert(ctx)
    seed = seed_id(ctx)
    on_seed = [name for name in reverted if name in ctx.fuel.env_extensions(seed)]
    if on_seed:
        ctx.fuel.disable_extensions(seed, on_seed)
    kept = dumps(ctx)
    for what, record in kept.items():
        log.info("%s env %s: the %s is kept at %s (the only copy of the pre-upgrade databases)",
                 STAGE, ctx.env_id, what, record["path"])
    return {"disabled on the original": reverted, "disabled on the seed": on_seed,
            "workspace": str(prepare.workspace(ctx)), "dumps kept": kept}


def verify_fuel(ctx: Context) -> dict[str, Any]:
    state = extension_state(ctx)
    problems = extension_problems(state) + dump_problems(ctx)
    if problems:
        raise CleanupError("cleanup-fuel did not leave the master as it should: " + "; ".join(problems),
                           "fix what is named (fuel2 env extension disable ...), then re-run cleanup-fuel")
    return {"extensions": state, "dumps": dumps(ctx)}


# --------------------------------------------------------------------------- the stage


def _each(stage: Stage, hook: Hook, ctx: Context, nodes: list[str], controller: bool) -> None:
    """`env: <node>: rpc pin removed` on every node in parallel, each journaled on its own."""
    seen = ctx.pool.fan_out(nodes, lambda node: stage.call(f"env: {node}: rpc pin removed", unpin, ctx, node,
                                                           controller), max_workers=MAX_NODES)
    for node in nodes:
        if node in seen.results:
            hook(f"env: {node}: rpc pin removed", seen.results[node])
    if seen.errors:
        raise CleanupError("the RPC pin could not be removed on " + "; ".join(
            f"{n}: {e}" for n, e in sorted(seen.errors.items())),
            f"check {NOVA_CONF} and the nova services on them, then re-run cleanup-env")


def env_half(stage: Stage, hook: Hook, ctx: Context) -> None:
    pre = run_step(stage, hook, "env: preconditions", preconditions, ctx)
    run_step(stage, hook, "env: delete stale nova services", delete_services, ctx)
    run_step(stage, hook, "env: delete stale neutron agents", delete_agents, ctx)
    _each(stage, hook, ctx, pre["seed controllers"], controller=True)
    _each(stage, hook, ctx, pre["computes"], controller=False)
    run_step(stage, hook, "env: nova-compute up", computes_up, ctx, pre["computes"])
    run_step(stage, hook, "env: verify", verify_env, ctx, pre)
    run_step(stage, hook, ENV_DONE, compare, ctx)


def fuel_half(stage: Stage, hook: Hook, ctx: Context) -> None:
    if stage.step_status(ENV_DONE) != DONE:
        raise CleanupError("cleanup-fuel comes after cleanup-env, which has not completed",
                           f"run `octane cleanup-env {seed_id(ctx)}` first; nothing was changed")
    run_step(stage, hook, "fuel: revert master", revert_master, ctx)
    run_step(stage, hook, FUEL_DONE, verify_fuel, ctx)


def halves_done(ctx: Context) -> list[str]:
    """Which halves of the stage completed, as the journal's steps say."""
    steps = ctx.journal.stage_record(STAGE).get("steps", {})
    return [half for half, last in (("env", ENV_DONE), ("fuel", FUEL_DONE))
            if steps.get(last, {}).get("status") == DONE]


def _recorded_seed(ctx: Context) -> int | None:
    try:
        return int(ctx.journal.fact(upgrade_env.SEED_FACT))
    except JournalError:
        return None


def run(ctx: Context, part: str = "all", step_hook: Hook | None = None) -> dict[str, Any]:
    """cleanup-env (`part="env"`), cleanup-fuel (`"fuel"`) or both; a re-run continues."""
    if part not in PARTS:
        raise CleanupError(f"cleanup part {part!r} is not one of {', '.join(PARTS)}",
                           "pass --cleanup-part env, fuel or all")
    env_id = ctx.facts.env()["id"]
    hook = step_hook or (lambda name, result: None)
    inputs = {"env_id": env_id, "seed_env_id": _recorded_seed(ctx)}
    with ctx.journal.stage(STAGE, inputs=inputs, requires=[PREVIOUS]) as stage:
        if part in ("env", "all"):
            env_half(stage, hook, ctx)
        if part in ("fuel", "all"):
            fuel_half(stage, hook, ctx)
        if stage.step_status(FUEL_DONE) != DONE:
            raise CleanupPending("cleanup-env is done; stage 7 completes with cleanup-fuel (the master reverted)",
                                 "run `octane cleanup-fuel` when the seed env is accepted")
        return {"seed_env_id": seed_id(ctx), "halves": ["env", "fuel"]}
