"""Stage 2, upgrade-env (`octane upgrade-env ENV [NODE...]`): the Upgrade Seed env, deployed isolated.

Steps, each journaled (a re-run continues from the first step not done):

1. `seed controllers`: the NODE ids given, or as many unallocated, discovered,
   online nodes as the original has controllers (lowest ids first). Bad ids
   are refused here, before anything changes.
2. `original`: the original env as Fuel describes it before acting (kept as
   evidence; the baseline of stage 0 is the reference of the tests).
3. `clone`: Nailgun's cluster_upgrade clone of the original to release
   2015.1.0-7.0, named `<original name>-upgrade`. The seed's id goes into the
   journal's facts (`seed_env_id`) at once; a re-run reuses the recorded seed,
   or one of that name and release left by a run that died before recording.
4. `check settings`: the clone carried the original's settings (every
   editable value both releases have) and network addressing; refused otherwise.
5. `assign`: the chosen nodes join the seed as controllers.
6. `copy vips`: the original's VIPs copied into the seed (cluster_upgrade `vips`).
7. `provision`: the seed controllers installed with 7.0 (a running provisioning
   task of the seed is waited for rather than started twice).
8. `deployment info`: Nailgun's default deployment info for the seed
   controllers, isolated: no patch port between br-mgmt/br-ex and the physical
   bridges, and GRE tunnels on br-mgmt and br-ex from every seed controller to
   a hub (the highest id), so the seed controllers form their own cluster while
   holding the same VIPs and controller addresses as the original.
9. `deploy`: the seed controllers deployed; waits with timeouts, progress
   kept as step evidence and logged.
10. `verify`: the seed controllers ready and online, wired as uploaded (no
    patch to the wire, GRE up), their own pacemaker cluster with quorum, and the
    original's VIPs and controller addresses answered by the original only (ARP).

Facts for later stages: `seed_env_id`, `seed_controllers` (hostnames, sorted).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from typing import Any

from tenacity import RetryError, retry_if_exception_type, stop_after_delay, wait_fixed

from runbook.errors import FuelError, OctaneError
from runbook.journal import Stage, Step
from runbook.lib import db, network, pacemaker, waits
from runbook.plugins.path_61_70 import TO_VERSION
from runbook.procedure import fuelstate, prepare
from runbook.procedure.context import Context, Hook, run_step

log = logging.getLogger(__name__)

STAGE = "stage2_upgrade_env"
SEED_SUFFIX = "-upgrade"  # preflight's not_in_upgrade recognises seeds by it
SEED_FACT = "seed_env_id"
CONTROLLERS_FACT = "seed_controllers"
ROLE = "controller"
ISOLATED = {"br-mgmt": "management", "br-ex": "public"}  # role bridge -> the network it carries
GRE_KEYS = {"br-mgmt": 1, "br-ex": 2}  # one tunnel per bridge between two hosts, told apart by key
CHANGED_BY_CLONE = {("release", "version")}  # settings the clone must change
PROVISION_TIMEOUT = 2 * 3600.0  # seconds for the seed controllers' provisioning (hardware: 1-2 h)
DEPLOY_TIMEOUT = 3 * 3600.0  # seconds for their deployment (hardware: up to 3 h)
WAIT_SLICE = 60.0  # seconds between progress records of a long wait
CLUSTER_TIMEOUT = 600.0  # seconds for the seed's pacemaker cluster to form after deployment
CLUSTER_POLL = 5.0
ARP_PROBES = 2


class UpgradeEnvError(OctaneError):
    """upgrade-env cannot go on: what is wrong, and what to do."""


# --------------------------------------------------------------------------- reads


def seed_name(original: dict[str, Any]) -> str:
    return f"{original['name']}{SEED_SUFFIX}"


def _sorted_hosts(names: list[str]) -> list[str]:
    return sorted(names, key=lambda h: (len(h), h))


def controllers_of(nodes: list[dict[str, Any]], env_id: int) -> list[dict[str, Any]]:
    """The controllers of env `env_id` (deployed or pending), by id."""
    return [n for n in nodes if n.get("cluster") == env_id
            and ROLE in (n.get("roles") or []) + (n.get("pending_roles") or [])]


def _free(node: dict[str, Any]) -> bool:
    return node.get("cluster") is None and node.get("status") == "discover" and bool(node.get("online"))


def admin_ip(node: dict[str, Any]) -> str:
    return str(node["ip"])


def node_address(node: dict[str, Any], network_name: str) -> str | None:
    """A node's address on a network, from Fuel's network_data."""
    for entry in node.get("network_data") or []:
        if entry.get("name") == network_name and entry.get("ip"):
            return str(entry["ip"]).split("/")[0]
    return None


# --------------------------------------------------------------------------- 1. seed controllers


def choose_controllers(ctx: Context, wanted: list[int] | None) -> list[dict[str, Any]]:
    """The seed's controllers: the given node ids, validated, or the lowest free ones; before any change."""
    env_id = ctx.facts.env()["id"]
    nodes = ctx.fuel.nodes()
    needed = len(controllers_of(nodes, env_id))
    if needed == 0:
        raise UpgradeEnvError(f"env {env_id} has no controller: there is nothing to mirror in a seed",
                              "upgrade an env with deployed controllers")
    if wanted:
        chosen = _validate_given(nodes, wanted, needed)
    else:
        free = [n for n in nodes if _free(n)]
        if len(free) < needed:
            raise UpgradeEnvError(
                f"{len(free)} unallocated discovered online node(s) "
                f"({', '.join(n['hostname'] for n in free) or 'none'}); the seed needs {needed} controllers",
                f"boot {needed - len(free)} more server(s) into Fuel's bootstrap, or name free nodes: "
                "upgrade-env ENV NODE...")
        chosen = free[:needed]
    return [{"id": n["id"], "hostname": n["hostname"], "ip": admin_ip(n)} for n in chosen]


def _validate_given(nodes: list[dict[str, Any]], wanted: list[int], needed: int) -> list[dict[str, Any]]:
    by_id = {n["id"]: n for n in nodes}
    problems = []
    if len(set(wanted)) != len(wanted):
        problems.append(f"node ids repeated: {wanted}")
    for node_id in sorted(set(wanted)):
        node = by_id.get(node_id)
        if node is None:
            problems.append(f"node {node_id} does not exist")
            continue
        what = f"node {node_id} ({node['hostname']})"
        if node.get("cluster") is not None:
            problems.append(f"{what} belongs to env {node['cluster']}")
        elif node.get("status") != "discover":
            problems.append(f"{what} is {node.get('status')}, not discover")
        if not node.get("online"):
            problems.append(f"{what} is offline")
    if len(set(wanted)) != needed and not problems:
        problems.append(f"{len(set(wanted))} node(s) given; the original has {needed} controllers")
    if problems:
        free = ", ".join(f"{n['id']} ({n['hostname']})" for n in nodes if _free(n)) or "none"
        raise UpgradeEnvError("the seed controllers given cannot be used: " + "; ".join(problems),
                              f"name {needed} unallocated, discovered, online nodes (free now: {free}), "
                              "or none to let octane choose")
    return [by_id[i] for i in sorted(set(wanted))]


# --------------------------------------------------------------------------- 3. clone


def find_seed(ctx: Context, original: dict[str, Any]) -> int | None:
    """The seed of this upgrade if one exists: the journaled one, else one of the seed's name on 7.0."""
    envs = ctx.fuel.envs()
    try:
        recorded = int(ctx.journal.fact(SEED_FACT))
    except OctaneError:
        recorded = None
    if recorded is not None:
        if any(e["id"] == recorded for e in envs):
            return recorded
        raise UpgradeEnvError(f"the journal names seed env {recorded}, which no longer exists on the master",
                              "if the seed was deleted on purpose, reset stage2 in the journal "
                              f"(journal.reset({STAGE!r})) and run upgrade-env again")
    release = ctx.fuel.release_by_version(TO_VERSION)
    found = [e for e in envs if e.get("name") == seed_name(original) and e.get("release_id") == release["id"]]
    return found[0]["id"] if found else None


def clone(ctx: Context, original: dict[str, Any]) -> int:
    """The seed env's id: the existing one, or a new clone; journaled as a fact at once."""
    seed = find_seed(ctx, original)
    if seed is None:
        release = ctx.fuel.release_by_version(TO_VERSION)
        seed = int(ctx.fuel.upgrade_clone(original["id"], seed_name(original), release["id"])["id"])
        log.info("env %s cloned to seed env %s (%s)", original["id"], seed, seed_name(original))
    ctx.journal.fact(SEED_FACT, seed)
    return seed


# --------------------------------------------------------------------------- 4. settings


def shared_settings(original: dict[str, Any], seed: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The editable values both envs have (passwords only as set/unset), minus those the clone changes."""
    orig_values, seed_values = fuelstate.attribute_values(original), fuelstate.attribute_values(seed)
    left: dict[str, Any] = {}
    right: dict[str, Any] = {}
    for section in sorted(set(orig_values) & set(seed_values)):
        for key in sorted(set(orig_values[section]) & set(seed_values[section])):
            if (section, key) in CHANGED_BY_CLONE:
                continue
            left.setdefault(section, {})[key] = orig_values[section][key]
            right.setdefault(section, {})[key] = seed_values[section][key]
    return left, right


def addressing(network_configuration: dict[str, Any], *, vips: bool) -> dict[str, Any]:
    """The addressing to carry over: networks by name, parameters, and the VIPs when asked."""
    found = fuelstate.addressing(network_configuration)
    if not vips:
        found.pop("vips")
    return found


def settings_differences(ctx: Context, seed_id: int, *, vips: bool) -> list[str]:
    """How the seed's settings and addressing differ from the original's ([] when carried over)."""
    env_id = ctx.facts.env()["id"]
    left, right = shared_settings(ctx.fuel.env_attributes(env_id), ctx.fuel.env_attributes(seed_id))
    changed = [f"settings {d}" for d in fuelstate.differences(left, right)]
    orig_net = addressing(ctx.fuel.network_configuration(env_id), vips=vips)
    seed_net = addressing(ctx.fuel.network_configuration(seed_id), vips=vips)
    return changed + [f"network {d}" for d in fuelstate.differences(orig_net, seed_net)]


def check_settings(ctx: Context, seed_id: int, *, vips: bool) -> dict[str, Any]:
    changed = settings_differences(ctx, seed_id, vips=vips)
    if changed:
        raise UpgradeEnvError(f"seed env {seed_id} does not carry the original's settings: " + "; ".join(changed),
                              f"set them on the seed as the original has them (fuel env {seed_id} settings / "
                              "network), then run upgrade-env again")
    left, _ = shared_settings(ctx.fuel.env_attributes(ctx.facts.env()["id"]), ctx.fuel.env_attributes(seed_id))
    return {"shared_settings": sum(len(v) for v in left.values()), "vips": vips}


# --------------------------------------------------------------------------- 5-6. assign, vips


def assign(ctx: Context, seed_id: int, chosen: list[dict[str, Any]]) -> list[int]:
    """The chosen nodes in the seed as controllers; those already there are left as they are."""
    current = {n["id"]: n for n in ctx.fuel.nodes()}
    missing = []
    for entry in chosen:
        node = current.get(entry["id"])
        if node is None:
            raise UpgradeEnvError(f"node {entry['id']} ({entry['hostname']}) is gone from the master",
                                  "boot it again, or reset stage2 and choose other nodes")
        if node.get("cluster") == seed_id:
            continue
        if not _free(node):
            raise UpgradeEnvError(f"node {entry['id']} ({entry['hostname']}) is no longer free: env "
                                  f"{node.get('cluster')}, {node.get('status')}, online {node.get('online')}",
                                  "free it (or reset stage2 and choose other nodes), then re-run")
        missing.append(entry["id"])
    if missing:
        ctx.fuel.assign_nodes(seed_id, missing, [ROLE])
    return [e["id"] for e in chosen]


def copy_vips(ctx: Context, seed_id: int) -> dict[str, Any]:
    """The original's VIPs in the seed, checked on the seed's network configuration."""
    ctx.fuel.upgrade_vips(seed_id)
    return check_settings(ctx, seed_id, vips=True) | {
        "vips": fuelstate.addressing(ctx.fuel.network_configuration(seed_id))["vips"]}


# --------------------------------------------------------------------------- 7, 9. tasks


def _seed_nodes(ctx: Context, ids: list[int]) -> dict[int, dict[str, Any]]:
    return {n["id"]: n for n in ctx.fuel.nodes() if n["id"] in ids}


def _running_task(ctx: Context, seed_id: int, names: tuple[str, ...]) -> dict[str, Any] | None:
    """A task of the seed still running (a run that died left it): wait for it, do not start another."""
    return next((t for t in reversed(ctx.fuel.tasks(seed_id))
                 if t.get("name") in names and t.get("status") in ("pending", "running")), None)


def wait_task(ctx: Context, step: Step, task: dict[str, Any], ids: list[int], timeout: float) -> dict[str, Any]:
    """Wait for a Fuel task, one wait to its deadline (its progress lines: runbook.lib.waits); its
    progress as step evidence every WAIT_SLICE seconds, which `octane status` shows while it lasts."""
    step.evidence("task", f"task {task['id']} ({task.get('name')}) on nodes {ids}")
    last = [time.monotonic()]

    def record(seen: dict[str, Any]) -> None:
        if time.monotonic() - last[0] >= WAIT_SLICE:
            last[0] = time.monotonic()
            step.evidence("progress", f"task {task['id']} {seen.get('status')} at {seen.get('progress')}%")

    done = ctx.fuel.wait_task(task["id"], timeout=timeout, nodes=ids, on_poll=record)
    step.evidence("task done", f"task {task['id']} {done.get('status')}: {done.get('message')}")
    return done


def _needs_provision(node: dict[str, Any]) -> bool:
    return node.get("status") == "discover" or (node.get("status") == "error"
                                                and node.get("error_type") == "provision")


def provision(ctx: Context, step: Step, seed_id: int, ids: list[int]) -> dict[str, Any]:
    """The seed controllers provisioned with 7.0; a provisioning task already running is waited for."""
    running = _running_task(ctx, seed_id, ("provision", "deploy", "deployment"))
    if running is not None:
        wait_task(ctx, step, running, ids, PROVISION_TIMEOUT)
    todo = [i for i, n in sorted(_seed_nodes(ctx, ids).items()) if _needs_provision(n)]
    if todo:
        task = ctx.fuel.provision_nodes(seed_id, todo)
        wait_task(ctx, step, task, todo, PROVISION_TIMEOUT)
    nodes = ctx.fuel.wait_nodes(ids, ("provisioned", "ready", "error"), PROVISION_TIMEOUT)
    bad = [n for n in nodes if n["status"] == "error" and n.get("error_type") == "provision"]
    if bad:
        raise FuelError("provisioning left node(s) in error: " + ", ".join(n["hostname"] for n in bad),
                        "read their provisioning logs on the master, fix the cause, then re-run upgrade-env")
    return {"provisioned": todo, "status": {n["hostname"]: n["status"] for n in nodes}}


def deploy(ctx: Context, step: Step, seed_id: int, ids: list[int]) -> dict[str, Any]:
    """The seed controllers deployed (those not ready yet); a deployment already running is waited for."""
    running = _running_task(ctx, seed_id, ("deploy", "deployment"))
    if running is not None:
        wait_task(ctx, step, running, ids, DEPLOY_TIMEOUT)
    todo = [i for i, n in sorted(_seed_nodes(ctx, ids).items()) if n.get("status") != "ready"]
    if todo:
        task = ctx.fuel.deploy_nodes(seed_id, todo)
        wait_task(ctx, step, task, todo, DEPLOY_TIMEOUT)
    nodes = ctx.fuel.wait_nodes(ids, "ready", DEPLOY_TIMEOUT)
    return {"deployed": todo, "status": {n["hostname"]: n["status"] for n in nodes}}


# --------------------------------------------------------------------------- 8. isolation


def _wires(step: dict[str, Any]) -> bool:
    """A transformation joining br-mgmt/br-ex to the physical network: a patch, or a NIC port."""
    if step.get("action") == "add-patch":
        return bool(set(step.get("bridges") or []) & set(ISOLATED))
    if step.get("action") == "add-port":
        return step.get("bridge") in ISOLATED and step.get("type", "system") in ("system", "")
    return False


def gre_name(bridge: str, remote_ip: str) -> str:
    return f"{bridge}--gre-{remote_ip}"


def tunnels(controllers: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """node id -> its GRE ports: a star to the hub (the highest id), one tunnel per isolated bridge."""
    ordered = sorted(controllers, key=lambda n: n["id"])
    hub = ordered[-1]
    out: dict[int, list[dict[str, Any]]] = {n["id"]: [] for n in ordered}
    for spoke in ordered[:-1]:
        for bridge, key in GRE_KEYS.items():
            out[spoke["id"]].append({"bridge": bridge, "remote_ip": hub["ip"], "key": key})
            out[hub["id"]].append({"bridge": bridge, "remote_ip": spoke["ip"], "key": key})
    return out


def isolate(info: list[dict[str, Any]], controllers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deployment info with br-mgmt/br-ex off the physical network and the GRE star added."""
    out = copy.deepcopy(info)
    gre = tunnels(controllers)
    for entry in out:
        scheme = entry.get("network_scheme")
        if not isinstance(scheme, dict):
            raise UpgradeEnvError(f"the deployment info of node {entry.get('uid')} has no network_scheme",
                                  "check the seed's release on the master: its deployment info is incomplete")
        steps = [s for s in scheme.get("transformations", []) if not _wires(s)]
        for port in gre.get(int(entry["uid"]), []):
            steps.append({"action": "add-port", "bridge": port["bridge"],
                          "name": gre_name(port["bridge"], port["remote_ip"]), "type": "gre",
                          "options": {"remote_ip": port["remote_ip"], "key": port["key"]}})
        scheme["transformations"] = steps
    return out


def upload_isolated(ctx: Context, seed_id: int, controllers: list[dict[str, Any]]) -> dict[str, Any]:
    """Nailgun's default deployment info for the seed controllers, isolated, uploaded and read back."""
    ids = [c["id"] for c in controllers]
    info = isolate(ctx.fuel.deployment_info_defaults(seed_id, ids), controllers)
    ctx.fuel.upload_deployment_info(seed_id, info)
    stored = ctx.fuel.deployment_info(seed_id)
    wired = [f"node {e.get('uid')}" for e in stored for s in e.get("network_scheme", {}).get("transformations", [])
             if _wires(s)]
    if {str(e.get("uid")) for e in stored} != {str(i) for i in ids} or wired:
        raise UpgradeEnvError(f"the deployment info stored for seed env {seed_id} is not the isolated one "
                              f"(nodes {sorted({e.get('uid') for e in stored})}, wired: {wired or 'none'})",
                              "check the master's orchestrator/deployment of the seed, then re-run")
    return {str(i): [f"{p['bridge']} gre to {p['remote_ip']} key {p['key']}" for p in ports]
            for i, ports in tunnels(controllers).items()}


# --------------------------------------------------------------------------- 10. verification


def wiring_problems(ctx: Context, controllers: list[dict[str, Any]]) -> dict[str, Any]:
    """What is wrong with the seed controllers' wiring as OVS shows it ({"problems": [...], "ports": ...})."""
    names = [c["hostname"] for c in controllers]
    if not names:
        return {"problems": ["the seed has no controller"], "gre": {}}
    seen = ctx.pool.fan_out(names, lambda node: network.ovs_ports(ctx.pool, node))
    problems = [f"{node}: OVS cannot be read: {exc}" for node, exc in sorted(seen.errors.items())]
    links: dict[str, set[tuple[str, str, str]]] = {b: set() for b in GRE_KEYS}
    by_ip = {c["ip"]: c["hostname"] for c in controllers}
    report: dict[str, Any] = {}
    for node, ports in sorted(seen.results.items()):
        for bridge in ISOLATED:
            if bridge not in ports:
                problems.append(f"{node}: no bridge {bridge}")
                continue
            patched = network.patches(ports, bridge)
            nics = [p for p, v in ports[bridge].items() if v["type"] in ("", "system") and p != bridge]
            if patched or nics:
                problems.append(f"{node}: {bridge} is wired to the physical network "
                                f"({', '.join([p['peer_bridge'] for p in patched] + nics)})")
            gre = network.gre_ports(ports, bridge)
            report[f"{node} {bridge}"] = gre
            for port in gre:
                if port["remote_ip"] in by_ip:
                    links[bridge].add((node, by_ip[port["remote_ip"]], str(port["key"])))
    for bridge in GRE_KEYS:
        missing = _unjoined(names, links[bridge])
        if missing and len(names) > 1:
            problems.append(f"{bridge}: no GRE path joins {', '.join(missing)} to the other seed controllers")
    return {"problems": problems, "gre": report}


def _unjoined(names: list[str], ends: set[tuple[str, str, str]]) -> list[str]:
    """Seed controllers not reached from the first one over tunnels configured at both ends
    (`ends`: (node, remote node, key) per GRE port)."""
    edges = [(a, b) for a, b, key in ends if (b, a, key) in ends]
    reached, todo = {names[0]}, [names[0]]
    while todo:
        here = todo.pop()
        for a, b in edges:
            if a == here and b not in reached:
                reached.add(b)
                todo.append(b)
    return [n for n in names if n not in reached]


def cluster_view(ctx: Context, controllers: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed's pacemaker and Galera as each seed controller sees them."""
    names = [c["hostname"] for c in controllers]

    def read(node: str) -> dict[str, Any]:
        status = pacemaker.status(ctx.pool, node)
        seen = {"online": sorted(n for n, up in status["nodes"].items() if up), "quorum": status["quorum"]}
        try:  # without quorum pacemaker stops MySQL: say so rather than hide what pacemaker shows
            wsrep = db.wsrep_status(ctx.pool, node)
        except OctaneError as exc:
            return seen | {"galera_size": None, "galera_state": f"MySQL does not answer: {exc.message}"}
        return seen | {"galera_size": wsrep.get("wsrep_cluster_size"),
                       "galera_state": wsrep.get("wsrep_local_state_comment")}

    seen = ctx.pool.fan_out(names, read)
    return {node: seen.results.get(node) or {"error": str(seen.errors.get(node))} for node in names}


def cluster_problems(view: dict[str, dict[str, Any]], names: list[str]) -> list[str]:
    """Each seed controller must see all of them online, with quorum, Galera synced at full size."""
    if not names:
        return ["the seed has no controller"]
    problems = []
    for node in names:
        seen = view.get(node, {})
        if "error" in seen:
            problems.append(f"{node}: cluster state unreadable: {seen['error']}")
        elif seen["online"] != sorted(names) or not seen["quorum"] or seen["galera_size"] != str(len(names)) \
                or seen["galera_state"] != "Synced":
            problems.append(f"{node}: {seen}")
    return problems


def wait_cluster(ctx: Context, controllers: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed's own cluster formed: polled until it has, or CLUSTER_TIMEOUT seconds pass."""
    names = _sorted_hosts([c["hostname"] for c in controllers])
    last: dict[str, Any] = {}

    def attempt() -> dict[str, Any]:
        last.clear()
        last.update(cluster_view(ctx, controllers))
        problems = cluster_problems(last, names)
        if problems:
            raise _NotYet("; ".join(problems))
        return dict(last)

    try:
        return waits.retrying(f"the seed's own cluster on {', '.join(names)}", stop=stop_after_delay(CLUSTER_TIMEOUT),
                              wait=wait_fixed(CLUSTER_POLL), retry=retry_if_exception_type(_NotYet),
                              reraise=False)(attempt)
    except RetryError:
        raise UpgradeEnvError(f"the seed controllers did not form their own cluster within {CLUSTER_TIMEOUT:g} s: "
                              + "; ".join(cluster_problems(last, names)),
                              "check corosync/pacemaker and the GRE tunnels on br-mgmt (ovs-vsctl show) of the "
                              "seed controllers, then re-run") from None


class _NotYet(Exception):
    """The seed's cluster has not formed yet (retried until the deadline)."""


def original_addresses(nodes: list[dict[str, Any]], env_id: int, vips: dict[str, str]) -> dict[str, str]:
    """address -> the bridge it lives on, for the original's VIPs and its controllers' mgmt/public addresses."""
    bridge_of = {net: bridge for bridge, net in ISOLATED.items()}
    out = {}
    for name, address in sorted(vips.items()):
        net = name.removesuffix("_vip")
        if address and net in bridge_of:
            out[address] = bridge_of[net]
    for node in controllers_of(nodes, env_id):
        for net, bridge in bridge_of.items():
            address = node_address(node, net)
            if address:
                out[address] = bridge
    return out


def arp_answers(ctx: Context, observers: list[str], addresses: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """address -> observer -> the MACs answering ARP for it on the observer's segment."""
    seen = ctx.pool.fan_out(observers, lambda node: {  # one command per observer, all its addresses
        address: sorted(set(macs))
        for address, macs in network.arp_replies_many(ctx.pool, node, addresses, probes=ARP_PROBES).items()})
    if seen.errors:
        raise UpgradeEnvError("ARP cannot be probed from " + "; ".join(f"{n}: {e}" for n, e in seen.errors.items()),
                              "check SSH to the original controllers and that arping is installed there")
    return {address: {node: seen.results[node][address] for node in observers} for address in addresses}


def conflicts(ctx: Context, env_id: int) -> dict[str, Any]:
    """Which of the original's addresses are answered by a MAC that is not an original controller's."""
    nodes = ctx.fuel.nodes()
    controllers = _sorted_hosts([n["hostname"] for n in controllers_of(nodes, env_id)])
    vips = fuelstate.addressing(ctx.fuel.network_configuration(env_id))["vips"]
    addresses = original_addresses(nodes, env_id, vips)
    macs = ctx.pool.fan_out(controllers, lambda node: network.link_macs(ctx.pool, node))
    if macs.errors:
        raise UpgradeEnvError("the original controllers' links cannot be read: "
                              + "; ".join(f"{n}: {e}" for n, e in macs.errors.items()),
                              "check SSH to the original controllers")
    own = {mac: f"{node} {dev}" for node, links in macs.results.items() for dev, mac in links.items()
           if dev in ISOLATED}
    answers = arp_answers(ctx, controllers, addresses)
    problems = []
    for address, by_observer in answers.items():
        strangers = sorted({m for found in by_observer.values() for m in found if m not in own})
        several = {o: found for o, found in by_observer.items() if len(found) > 1}
        if strangers or several:
            problems.append(f"{address} answered by {', '.join(strangers) or 'several MACs'} "
                            f"(seen from {', '.join(sorted(by_observer))}: {by_observer})")
        elif not any(by_observer.values()):
            problems.append(f"{address}: no original controller answers for it")
    return {"problems": problems, "answers": answers, "original_macs": own}


def verify(ctx: Context, seed_id: int, controllers: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed controllers ready and isolated with their own cluster; the original's addresses its own."""
    env_id = ctx.facts.env()["id"]
    ids = [c["id"] for c in controllers]
    nodes = _seed_nodes(ctx, ids)
    problems = [f"{n['hostname']}: {n.get('status')}, online {n.get('online')}, env {n.get('cluster')}"
                for n in nodes.values() if n.get("status") != "ready" or not n.get("online")
                or n.get("cluster") != seed_id]
    wiring = wiring_problems(ctx, controllers)
    problems += wiring["problems"]
    if problems:
        raise UpgradeEnvError("the seed controllers are not ready and isolated: " + "; ".join(problems),
                              "fix what is named (deployment logs on the master, ovs-vsctl show on the node), "
                              "then re-run upgrade-env")
    cluster = wait_cluster(ctx, controllers)
    arp = conflicts(ctx, env_id)
    if arp["problems"]:
        raise UpgradeEnvError("the original's addresses are claimed by others: " + "; ".join(arp["problems"]),
                              "unplug the node(s) that own those MACs from br-mgmt/br-ex "
                              "(ovs-vsctl del-port of their patch ports) at once, then re-run")
    return {"cluster": cluster, "gre": wiring["gre"], "arp": arp["answers"]}


# --------------------------------------------------------------------------- the stage


def run(ctx: Context, nodes: list[int] | None = None, step_hook: Hook | None = None) -> dict[str, Any]:
    """upgrade-env: the seed env deployed isolated; {"seed_env_id", "seed_controllers"}. A re-run continues."""
    env_id = ctx.facts.env()["id"]
    hook = step_hook or (lambda name, result: None)
    inputs = {"env_id": env_id, "nodes": sorted(int(n) for n in nodes) if nodes else _recorded_nodes(ctx)}
    with ctx.journal.stage(STAGE, inputs=inputs, requires=[prepare.STAGE]) as stage:
        chosen = run_step(stage, hook, "seed controllers", choose_controllers, ctx, inputs["nodes"])
        ctx.journal.fact(CONTROLLERS_FACT, _sorted_hosts([c["hostname"] for c in chosen]))
        original = run_step(stage, hook, "original", _original, ctx)
        seed_id = run_step(stage, hook, "clone", clone, ctx, original)
        run_step(stage, hook, "check settings", check_settings, ctx, seed_id, vips=False)
        ids = run_step(stage, hook, "assign", assign, ctx, seed_id, chosen)
        run_step(stage, hook, "copy vips", copy_vips, ctx, seed_id)
        _waiting_step(stage, hook, "provision", provision, ctx, seed_id, ids)
        run_step(stage, hook, "deployment info", upload_isolated, ctx, seed_id, chosen)
        _waiting_step(stage, hook, "deploy", deploy, ctx, seed_id, ids)
        run_step(stage, hook, "verify", verify, ctx, seed_id, chosen)
        return {"seed_env_id": seed_id, "seed_controllers": ctx.journal.fact(CONTROLLERS_FACT)}


def _recorded_nodes(ctx: Context) -> list[int] | None:
    """A re-run without NODE ids continues with those the interrupted run was given."""
    record = ctx.journal.stage_record(STAGE)
    if any(s.get("status") == "done" for s in record.get("steps", {}).values()):
        return record.get("inputs", {}).get("nodes")
    return None


def _original(ctx: Context) -> dict[str, Any]:
    env = ctx.facts.env()
    state = fuelstate.env_state(ctx.fuel, env["id"])
    return {"id": env["id"], "name": env["name"], "release_id": env.get("release_id"), "state": state}


def _waiting_step(stage: Stage, hook: Hook, name: str, fn: Callable[..., Any], *args: Any) -> Any:
    """A step that waits on Fuel tasks: it gets its journal step to record progress."""
    with stage.step(name) as step:
        if not step.done:
            step.result = fn(args[0], step, *args[1:])
    hook(name, step.result)
    return step.result
