"""Stage 5, upgrade-control (`octane upgrade-control SEED`): the seed's controllers take over the cloud.

The original is frozen (stage 3: read-only maintenance, writers stopped), the
seed holds its databases migrated to Kilo and its Ceph monitors carry the
original cluster's identity (stage 4); its controllers sit isolated, holding the
original's VIPs and controller addresses on a GRE overlay of their own. This
stage moves the wires, then the computes.

1. `preconditions` (no change): the earlier stages' facts; the original's
   databases unchanged since the dump (a write after it would be lost); the
   seed's own cluster formed; its RabbitMQ settings; how each seed controller
   is wired to br-mgmt/br-ex (Nailgun's default deployment info of the seed).
   `seed monitors`: every seed monitor runs (a stopped one is started) in one
   quorum with the original fsid. A refusal here changed nothing.
2. The switch-over (spec: "Isolation and switch-over"), each step journaled:
   `seed maintenance: haproxy read-only` (the seed takes no tenant write until
   the computes are in, so a rollback loses none; only the admin-only L3 agent
   scheduler calls pass, for the router moves; written now, loaded when its
   HAProxy starts), `rpc pin on seed controllers` (`[upgrade_levels]
   compute=juno` in their nova.conf, before their nova services start).
   Then, still isolated, what makes the cut short (the tenants' VMs answer
   from the original's kill until the seed's L3 agents run with their routers):
   `seed L3 agents registered` (neutron-server and the L3 agents started on the
   seed so the agents register in its DB, hosting nothing yet, then the L3
   agents stopped again), `routers bound to the seed's L3 agents` (in the
   seed's neutron DB, least loaded first, while those agents are stopped: they
   host them from their first start after the cut; the seed's API is not
   reachable before the cut, and a seed router running next to the original's
   would answer the tenant gateways twice on br-prv), `seed overlay recorded`
   (its GRE tunnels journaled in `seed_overlay` for a rollback).
   The cut, as short as the journal allows: `stop seed cluster` (`pcs cluster
   stop --all`), `stop original cluster` (`pcs cluster kill` on each original
   controller), `unplug original` (their br-mgmt/br-ex patch ports deleted,
   each removal journaled at once in the fact `orig_unplugged`), `plug seed`
   (the GRE tunnels deleted and the patch ports added), `start seed cluster`,
   `start seed services` (those stage 3 stopped, from its fact, the OVS and L3
   agents first: the VMs answer again here), then checks that wait with
   deadlines, polling soon then less often (and stop at once on what waiting
   cannot mend): `addresses answered by the seed` (ARP from the seed
   controllers and the computes: every VIP and original controller address
   answered by seed controllers only), `seed APIs answer`, `ceph on the seed
   monitors` (quorum, the original fsid, HEALTH_OK, the baseline's OSDs up and
   in), `move routers` (through the API, any router still not on a live seed
   agent: nothing after the binding; the safety net), `data plane` (every
   baseline VM answers on its floating IP).
   Any failure here puts the original back in service (`rollback #N`: the seed
   unplugged, its overlay and own cluster back with the services stage 3 had
   stopped stopped again; the original re-plugged, `pcs cluster start`, MySQL
   read_only again, as mysqld restarted without it: it stays frozen, so nothing
   written since the dump can be lost), journals it in the fact
   `control_rollbacks` and says so. A re-run then switches over anew as
   attempt N+1 (its steps are named `... #N+1`).
3. The computes, once the seed serves. This is the point of no return: a Kilo
   nova-compute cannot go back under the Juno control plane, so a failure from
   here on stops without a rollback; the seed keeps serving (read-only, the VMs
   reachable) and a re-run continues. Per compute, in parallel: `kilo
   packages` (the master's 7.0 repository, nova-compute and the OVS agent
   upgraded, configuration files kept; libvirt and the running guests
   untouched), `rabbit and rpc pin` (nova.conf and neutron.conf: the seed's
   RabbitMQ settings, written over SFTP, and the pin), `restart services`; then
   `computes in the new control plane` (nova-compute up and the OVS agents
   alive in the seed's API).
4. `volumes` (`cinder-manage volume update_host` for volumes on a backend no
   live cinder-volume of the seed serves: Kilo's reports as `<name>@<backend>`),
   `leave maintenance` (the seed's HAProxy back to normal: writes accepted),
   `verify` (what the stage tests check, and the volumes).

Facts written: `orig_unplugged`, `seed_overlay`, `control_rollbacks`,
`seed_maintenance`.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tenacity import RetryError, retry_if_exception_type, stop_after_delay, wait_exponential

from runbook import redact
from runbook.errors import JournalError, OctaneError
from runbook.journal import Stage
from runbook.lib import (
    apt,
    ceph,
    cloud,
    db,
    haproxy,
    ini,
    network,
    neutrondb,
    pacemaker,
    upstart,
    waits,
)
from runbook.plugins.path_61_70 import TO_VERSION
from runbook.procedure import dbcopy, fuelstate, preflight, upgrade_ceph, upgrade_db, upgrade_env
from runbook.procedure.context import Context, Hook, raise_fan_out, run_step

if TYPE_CHECKING:
    from openstack.connection import Connection

log = logging.getLogger(__name__)

STAGE = "stage5_upgrade_control"
PREVIOUS = "stage4_upgrade_ceph"
SEED_FACT, CONTROLLERS_FACT = upgrade_env.SEED_FACT, upgrade_env.CONTROLLERS_FACT
SEED_STOPPED_FACT = upgrade_db.SEED_STOPPED_FACT
FSID_FACT, MONS_FACT = upgrade_ceph.FSID_FACT, upgrade_ceph.MONS_FACT
UNPLUGGED_FACT = "orig_unplugged"
OVERLAY_FACT = "seed_overlay"
ROLLBACKS_FACT = "control_rollbacks"
MAINTENANCE_FACT = "seed_maintenance"
# OSD flags upgrade-ceph set for the seed's isolation (upgrade_ceph.hold_osds_in); unset here once
# the OSDs are back with the seed's monitors. Absent: none was set.
ISOLATION_FLAGS_FACT = upgrade_ceph.ISOLATION_FLAGS_FACT

BRIDGES = tuple(upgrade_env.ISOLATED)  # br-mgmt, br-ex: the wires that carry the VIPs and addresses
CLUSTER_JOBS = ("corosync", "pacemaker")
NOVA_CONF = "/etc/nova/nova.conf"
NEUTRON_CONF = "/etc/neutron/neutron.conf"
RABBIT_KEYS = ("rabbit_hosts", "rabbit_userid", "rabbit_password")
PIN = {"upgrade_levels": {"compute": "juno"}}  # Kilo controllers speak Juno's compute RPC to computes
SEED_NOVA_JOBS = ("nova-api", "nova-conductor", "nova-scheduler", "nova-cert", "nova-consoleauth",
                  "nova-novncproxy")
COMPUTE_PACKAGES = ("nova-compute", "nova-compute-kvm", "neutron-plugin-openvswitch-agent")
COMPUTE_JOBS = ("nova-compute", "neutron-plugin-openvswitch-agent")
KILO = "1:2015.1"  # MOS 7.0's OpenStack package versions
SOURCE_NAME = f"mos-{TO_VERSION}"
REPO_PORT = 8080  # the Fuel master's repositories: http://<master>:8080/<release>/ubuntu/x86_64
SEED_AGENTS = ("neutron-l3-agent", "neutron-dhcp-agent", "neutron-metadata-agent", "neutron-openvswitch-agent")
COMPUTE_AGENT = "neutron-openvswitch-agent"
L3_AGENT = "neutron-l3-agent"
NEUTRON_SERVER = "neutron-server"
# What the data plane needs on the seed, started first after the cut: the OVS agent wires the L3 agent's ports.
DATA_PLANE_JOBS = ("neutron-plugin-openvswitch-agent", L3_AGENT)
# Non-GET calls the seed's read-only maintenance still lets through: the L3 agent scheduler's, which
# neutron's policy keeps admin-only, so the routers can move while tenants cannot write.
MAINTENANCE_ALLOW = ("/l3-routers",)

CLUSTER_TIMEOUT = 600.0  # seconds for a pacemaker cluster to form (and Galera to sync) after `pcs cluster start`
SERVICES_TIMEOUT = 600.0  # seconds for the seed's services to run after they were started
REGISTER_TIMEOUT = 300.0  # seconds for the seed's L3 agents to register in its neutron DB
ADDRESS_TIMEOUT = 300.0  # seconds for the VIPs to move (pacemaker places them)
API_TIMEOUT = 600.0  # seconds for the seed's APIs to answer
CEPH_TIMEOUT = 900.0  # seconds for the OSDs to rejoin and the PGs to be active+clean
DATAPLANE_TIMEOUT = 300.0  # seconds for every baseline VM to answer on its floating IP
COMPUTE_TIMEOUT = 600.0  # seconds for the computes to report in the new control plane
WRITE_TIMEOUT = 300.0  # seconds for HAProxy to take writes again
POLL = 2.0  # seconds between two looks of a wait, at most
FIRST_POLL = 0.05  # the first looks come sooner (doubling up to POLL): inside the cut, every wait is outage
PROBE_TIMEOUT = 2.0  # seconds for one TCP probe of a VM
READ_WORKERS = 32  # nodes read at once by the checks that read every compute (SSH round trips, not CPU)


class UpgradeControlError(OctaneError):
    """upgrade-control cannot go on: what is wrong, and what to do."""


class _NotYet(Exception):
    """A wait's condition does not hold yet (retried until its deadline)."""


class Fatal(OctaneError):
    """What a wait sees cannot get better by waiting (a second holder of an address, a package not
    upgraded): the wait ends at once."""


# --------------------------------------------------------------------------- small reads


def _sorted_hosts(names: list[str]) -> list[str]:
    return sorted(names, key=lambda h: (len(h), h))


def _fact(ctx: Context, key: str, stage: str) -> Any:
    try:
        return ctx.journal.fact(key)
    except JournalError:
        raise UpgradeControlError(f"the journal of env {ctx.env_id} has no {key!r}",
                                  f"run {stage} first") from None


def _optional_fact(ctx: Context, key: str, default: Any) -> Any:
    return ctx.journal.fact_or(key, default)


def seed_id(ctx: Context) -> int:
    return int(_fact(ctx, SEED_FACT, upgrade_env.STAGE))


def seed_controllers(ctx: Context) -> list[str]:
    return _sorted_hosts(list(_fact(ctx, CONTROLLERS_FACT, upgrade_env.STAGE)))


def computes(ctx: Context) -> list[str]:
    """The computes of the upgrade, by hostname: the original env's, and those upgrade-node moved to the seed."""
    envs = {ctx.env_id, seed_id(ctx)}
    return _sorted_hosts([n["hostname"] for n in ctx.fuel.nodes() if n.get("cluster") in envs
                          and "compute" in (n.get("roles") or []) + (n.get("pending_roles") or [])])


def seed_cloud(ctx: Context) -> Connection:
    """A fresh connection to the seed's APIs (at the VIPs, whoever answers them)."""
    return cloud.from_target(ctx.target, seed_id(ctx))


def rollbacks(ctx: Context) -> list[dict[str, Any]]:
    return list(_optional_fact(ctx, ROLLBACKS_FACT, []))


def seed_rabbit(ctx: Context, node: str) -> dict[str, str]:
    """The RabbitMQ settings the seed's own services use (its nova.conf); the password is registered
    with the redactor at once and must never be journaled."""
    found = ini.options(ctx.pool.read_text(node, NOVA_CONF)).get("DEFAULT", {})
    missing = [k for k in RABBIT_KEYS if not found.get(k)]
    if missing:
        raise UpgradeControlError(f"{node}:{NOVA_CONF} names no {', '.join(missing)}",
                                  "check the seed's deployment (its nova.conf is written by Fuel)")
    redact.register(found["rabbit_password"])
    return {k: found[k] for k in RABBIT_KEYS}


def repo_line(ctx: Context) -> str:
    """The 7.0 repository on the Fuel master, as Fuel lays its release repositories out."""
    suite = "mos" + TO_VERSION.rsplit("-", 1)[-1]
    return f"deb http://{ctx.target.fuel.address}:{REPO_PORT}/{TO_VERSION}/ubuntu/x86_64 {suite} main restricted"


def wire_patches(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The br-mgmt/br-ex patch pairs of one node's (default) deployment info, as `network.plug` takes them."""
    pairs = []
    for step in (info.get("network_scheme") or {}).get("transformations", []):
        bridges = step.get("bridges") or []
        if step.get("action") != "add-patch" or len(bridges) != 2 or not set(bridges) & set(BRIDGES):
            continue
        left, right = bridges
        tags = list(step.get("tags") or [0, 0]) + [0, 0]
        pairs.append({"bridge": left, "port": f"{left}--{right}", "tag": tags[0] or None,
                      "peer_bridge": right, "peer_port": f"{right}--{left}", "peer_tag": tags[1] or None})
    return pairs


def baseline_vms(ctx: Context) -> list[dict[str, Any]]:
    """The baseline's ACTIVE VMs with their floating address (those must stay up and reachable)."""
    found = []
    for server in preflight.recorded_baseline(ctx)["cloud"]["servers"]:
        if server["status"] != "ACTIVE":
            continue
        floating = [row[1] for row in server.get("addresses") or [] if len(row) > 2 and row[2] == "floating"]
        found.append({"id": server["id"], "name": server["name"], "host": server["host"],
                      "floating": floating[0] if floating else None})
    return found


# --------------------------------------------------------------------------- waiting


def wait_until(what: str, problems: Callable[[], list[str]], timeout: float, fix: str) -> None:
    """Poll `problems()` until it finds none; an OctaneError while polling counts as a problem
    (an API or a quorum that does not answer yet), except `Fatal`, which ends the wait at once.
    After `timeout` seconds: UpgradeControlError."""
    last: list[str] = []

    def attempt() -> None:
        try:
            last[:] = problems()
        except Fatal as exc:
            raise UpgradeControlError(f"{what}: {exc.message}", fix) from None
        except OctaneError as exc:
            last[:] = [exc.message]
        if last:
            raise _NotYet("; ".join(last))

    try:
        waits.retrying(what, stop=stop_after_delay(timeout),
                       wait=wait_exponential(multiplier=FIRST_POLL, max=POLL),
                       retry=retry_if_exception_type(_NotYet), reraise=False)(attempt)
    except RetryError:
        raise UpgradeControlError(f"{what} not reached within {timeout:g} s: " + "; ".join(last[:10]), fix) from None


def _raise_fan_out(errors: dict[str, BaseException], what: str) -> None:
    raise_fan_out(errors, what, UpgradeControlError, "fix the nodes named, then re-run upgrade-control")


# --------------------------------------------------------------------------- checks (the stage tests share them)


def cluster_problems(ctx: Context, nodes: list[str]) -> list[str]:
    """The controllers' pacemaker cluster formed with all of them, Galera synced at full size."""
    view = upgrade_env.cluster_view(ctx, [{"hostname": n} for n in nodes])
    return upgrade_env.cluster_problems(view, _sorted_hosts(nodes))


def addresses_of_the_original(ctx: Context) -> dict[str, str]:
    """The original's VIPs and controller management/public addresses -> the bridge each lives on."""
    vips = fuelstate.addressing(ctx.fuel.network_configuration(ctx.env_id))["vips"]
    return upgrade_env.original_addresses(ctx.fuel.nodes(), ctx.env_id, vips)


def seed_wiring(ctx: Context, seeds: list[str]) -> dict[str, Any]:
    """Each seed controller's br-mgmt/br-ex patched to a physical bridge, with no GRE tunnel left."""
    seen = ctx.pool.fan_out(seeds, lambda node: network.ovs_ports(ctx.pool, node))
    problems = [f"{node}: OVS cannot be read: {exc}" for node, exc in sorted(seen.errors.items())]
    shown = {}
    for node, ports in sorted(seen.results.items()):
        for bridge in BRIDGES:
            wires = [p["peer_bridge"] for p in network.patches(ports, bridge) if p["peer_bridge"] not in BRIDGES]
            gre = [g["port"] for g in network.gre_ports(ports, bridge)]
            shown[f"{node} {bridge}"] = {"patched to": wires, "gre": gre}
            if not wires:
                problems.append(f"{node}: {bridge} is not on the wire")
            if gre:
                problems.append(f"{node}: {bridge} still has GRE tunnels {gre}")
    return {"problems": problems, "wiring": shown}


def address_holders(ctx: Context, seeds: list[str], hosts: list[str]) -> dict[str, Any]:
    """Who answers ARP for the original's addresses: {"problems", "answers", "seed_macs", "wiring"}.

    Seen from each seed controller (a node does not answer its own address, so each is seen from the
    others) and, for the management addresses, from the computes on the physical management wire.
    Every address must be answered, by seed controllers' MACs only and one MAC per observer, and the
    seed controllers must be on the wires (so what they see is what the datacenter sees)."""
    wiring = seed_wiring(ctx, seeds)
    macs = ctx.pool.fan_out(seeds, lambda node: network.link_macs(ctx.pool, node))
    _raise_fan_out(macs.errors, "reading the seed controllers' links")
    own = {mac: f"{node} {dev}" for node, links in macs.results.items() for dev, mac in links.items()
           if dev in BRIDGES}
    addresses = addresses_of_the_original(ctx)
    answers = upgrade_env.arp_answers(ctx, seeds, addresses)
    management = {a: b for a, b in addresses.items() if b == "br-mgmt"}
    if hosts and management:
        for address, seen in upgrade_env.arp_answers(ctx, hosts, management).items():
            answers[address].update(seen)
    problems = list(wiring["problems"])
    for address, seen in answers.items():
        strangers = sorted({m for found in seen.values() for m in found if m not in own})
        several = {o: found for o, found in seen.items() if len(found) > 1}
        if strangers or several:
            problems.append(f"{address} answered by {', '.join(strangers) or 'several MACs'} besides the seed "
                            f"(seen from {seen})")
        elif not any(seen.values()):
            problems.append(f"{address}: no seed controller answers for it")
    return {"problems": problems, "answers": answers, "seed_macs": own, "wiring": wiring["wiring"]}


def original_state(ctx: Context, originals: list[str]) -> dict[str, Any]:
    """The original controllers off the wires (no br-mgmt/br-ex patch) and their cluster stack stopped."""
    def read(node: str) -> dict[str, Any]:
        ports = network.ovs_ports(ctx.pool, node)
        wired = [f"{p['bridge']}<->{p['peer_bridge']}" for bridge in BRIDGES for p in network.patches(ports, bridge)]
        jobs = upstart.jobs(ctx.pool, node)
        return {"wired": wired, "cluster running": sorted(j for j in CLUSTER_JOBS if jobs.get(j))}

    seen = ctx.pool.fan_out(originals, read)
    problems = [f"{node}: cannot be read: {exc}" for node, exc in sorted(seen.errors.items())]
    for node, state in sorted(seen.results.items()):
        if state["wired"]:
            problems.append(f"{node} is still on the wire ({', '.join(state['wired'])})")
        if state["cluster running"]:
            problems.append(f"{node} still runs {', '.join(state['cluster running'])}")
    return {"problems": problems, "nodes": seen.results}


def ceph_state(ctx: Context, seeds: list[str], fsid: str, osd_ids: list[int]) -> dict[str, Any]:
    """The cluster as a seed controller's ceph.conf reaches it: quorum of the seed monitors only, the
    original fsid, HEALTH_OK, the baseline's OSDs (same ids) all up and in."""
    status = ceph.status(ctx.pool, seeds[0])
    osds = ceph.osd_tree(ctx.pool, seeds[0])
    problems = []
    if status["fsid"] != fsid:
        problems.append(f"fsid {status['fsid']}, not the original's {fsid}")
    if sorted(status["quorum"]) != sorted(seeds):
        problems.append(f"quorum {status['quorum']}, not the seed's monitors {seeds}")
    if status["health"] != "HEALTH_OK":
        problems.append(f"health {status['health']}: {ceph.health(ctx.pool, seeds[0])[1]}")
    ids = sorted(o["id"] for o in osds)
    if ids != sorted(osd_ids):
        problems.append(f"OSD ids {ids}, the baseline's {sorted(osd_ids)}")
    down = [o["id"] for o in osds if not (o["up"] and o["in"])]
    if down:
        problems.append(f"OSDs not up and in: {down}")
    return {"problems": problems, "status": status, "osds": osds}


def compute_state(ctx: Context, conn: Connection, hosts: list[str], seeds: list[str]) -> dict[str, Any]:
    """Each compute's nova-compute up in the seed's API (whose conductors, on the seed controllers, are
    up), its nova.conf pinned and pointing at the seed's RabbitMQ user, its packages Kilo's; the seed
    controllers' nova.conf pinned."""
    services = cloud.compute_services(conn)
    state = {s["host"]: s["state"] for s in services if s["binary"] == "nova-compute"}
    conductors = sorted(s["host"] for s in services if s["binary"] == "nova-conductor" and s["state"] == "up")
    problems = []
    if not conductors or not set(conductors) <= set(seeds):
        problems.append(f"the API's live conductors are {conductors}, not the seed controllers'")
    problems += [f"{h}: nova-compute {state.get(h, 'not listed')} in the seed's API" for h in hosts
                 if state.get(h) != "up"]
    pins, versions = node_files(ctx, seeds, hosts)
    static = [f"{node}: no [upgrade_levels] compute=juno in {NOVA_CONF}" for node, on in pins.items() if not on]
    static += [f"{h}: {name} {versions[h].get(name, 'not installed')} is not Kilo's" for h in hosts
               for name in COMPUTE_JOBS if not versions[h].get(name, "").startswith(KILO)]
    return {"problems": problems + static, "static": static, "nova-compute": state, "conductors": conductors,
            "pinned": pins, "packages": versions}


def node_files(ctx: Context, controllers: list[str], hosts: list[str]) -> tuple[dict[str, bool], dict[str, dict[str, str]]]:
    """({node: its nova.conf pins the compute RPC} for the controllers and the computes, {compute: its
    COMPUTE_JOBS packages' versions}), read on READ_WORKERS nodes at once (one after the other, 500
    computes took minutes); a node that cannot be read raises, naming it."""
    computes = set(hosts)

    def read(node: str) -> tuple[bool, dict[str, str]]:
        return pinned(ctx, node), (apt.versions(ctx.pool, node, COMPUTE_JOBS) if node in computes else {})

    seen = ctx.pool.fan_out([*controllers, *hosts], read, max_workers=READ_WORKERS)
    _raise_fan_out(seen.errors, f"reading {NOVA_CONF} and packages")
    return ({node: seen.results[node][0] for node in [*controllers, *hosts]},
            {h: seen.results[h][1] for h in hosts})


def pinned(ctx: Context, node: str) -> bool:
    """The node's nova.conf pins the compute RPC to Juno (`[upgrade_levels] compute=juno`)."""
    found = ini.options(ctx.pool.read_text(node, NOVA_CONF)).get("upgrade_levels", {}).get("compute", "")
    return found.strip().lower() == PIN["upgrade_levels"]["compute"]


def agent_state(conn: Connection, seeds: list[str], hosts: list[str]) -> dict[str, Any]:
    """The neutron agents the cloud needs alive in the seed's API: L3, DHCP, metadata and OVS on every
    seed controller (one DHCP agent at least), the OVS agent on every compute."""
    agents = cloud.network_agents(conn)
    alive = {(a["host"], a["binary"]) for a in agents if a["alive"]}
    wanted = [(h, b) for h in seeds for b in SEED_AGENTS if b != "neutron-dhcp-agent"]
    wanted += [(h, COMPUTE_AGENT) for h in hosts]
    problems = [f"{b} on {h} is not alive" for h, b in wanted if (h, b) not in alive]
    if not any((h, "neutron-dhcp-agent") in alive for h in seeds):
        problems.append("no DHCP agent of the seed is alive")
    shown = sorted(f"{a['host']} {a['binary']}: {'alive' if a['alive'] else 'dead'}" for a in agents
                   if a["host"] in seeds or a["host"] in hosts)
    return {"problems": problems, "agents": shown}


def router_state(conn: Connection, seeds: list[str]) -> dict[str, Any]:
    """Every router hosted by a live L3 agent of a seed controller."""
    agents = {a["id"]: a for a in cloud.network_agents(conn)}
    hosting = {r["id"]: cloud.router_hosts(conn, r["id"]) for r in cloud.routers(conn)}
    problems = []
    shown = {}
    for router, ids in sorted(hosting.items()):
        hosts = [f"{agents[i]['host']}{'' if agents[i]['alive'] else ' (dead)'}" if i in agents else i for i in ids]
        shown[router] = hosts
        if not any(i in agents and agents[i]["alive"] and agents[i]["host"] in seeds for i in ids):
            problems.append(f"router {router} is hosted by {hosts or 'no L3 agent'}, no live L3 agent of the seed")
    return {"problems": problems, "routers": shown}


def vm_state(ctx: Context, conn: Connection, vms: list[dict[str, Any]], hosts: list[str]) -> dict[str, Any]:
    """Every baseline VM listed with its id, ACTIVE, on a compute whose libvirt runs it, answering on
    its floating IP (TCP, the target's vm_probe_port, with its own banner)."""
    listed = {s["id"]: s for s in cloud.servers(conn)}
    running = ctx.pool.fan_out(hosts, lambda h: set(ctx.pool.check(h, "virsh list --uuid", timeout=60).stdout.split()))
    problems = [f"{h}: libvirt cannot be read: {exc}" for h, exc in sorted(running.errors.items())]
    seen = {}
    for vm in vms:
        server = listed.get(vm["id"])
        if server is None:
            problems.append(f"VM {vm['id']} ({vm['name']}) is not listed")
            continue
        host = server["host"]
        runs = host in running.results and vm["id"] in running.results[host]
        banner = network.tcp_banner(vm["floating"], ctx.target.vm_probe_port, PROBE_TIMEOUT) if vm["floating"] else None
        answers = bool(banner) and vm["id"] in (banner or "")
        seen[vm["id"]] = {"status": server["status"], "host": host, "libvirt": runs, "floating": vm["floating"],
                          "answers": answers}
        if server["status"] != "ACTIVE":
            problems.append(f"VM {vm['id']} is {server['status']}")
        if host not in hosts or not runs:
            problems.append(f"VM {vm['id']} is on {host}, whose libvirt does not run it")
        if not answers:
            problems.append(f"VM {vm['id']} does not answer on {vm['floating']}:{ctx.target.vm_probe_port}")
    return {"problems": problems, "vms": seen}


def data_plane_problems(ctx: Context, vms: list[dict[str, Any]]) -> list[str]:
    """The baseline VMs that do not answer on their floating IP (a TCP probe only)."""
    port = ctx.target.vm_probe_port
    return [f"VM {vm['id']} ({vm['name']}) does not answer on {vm['floating']}:{port}" for vm in vms
            if not vm["floating"] or vm["id"] not in (network.tcp_banner(vm["floating"], port, PROBE_TIMEOUT) or "")]


def volume_state(conn: Connection) -> dict[str, Any]:
    """Every volume on a backend a live cinder-volume of the seed serves (else nothing deletes it)."""
    live = {s["host"] for s in cloud.volume_services(conn) if s["binary"] == "cinder-volume" and s["state"] == "up"}
    hosts = cloud.volume_hosts(conn)
    stranded = sorted(v for v, h in hosts.items() if h and h.split("#")[0] not in live)
    return {"problems": [f"volumes on a backend no live cinder-volume serves: {stranded}"] if stranded else [],
            "backends": sorted(live)}


def write_state(ctx: Context, conn: Connection, seeds: list[str]) -> dict[str, Any]:
    """The APIs take writes: the seed's HAProxy files in normal mode, and a non-GET request per API
    reaches the service (its validation or a 404 answers) instead of HAProxy's 503."""
    modes = {node: haproxy.current_mode(ctx.pool, node) for node in seeds}
    answers = cloud.write_probes(conn)
    problems = [f"{node}: HAProxy is {mode}" for node, mode in modes.items() if mode != "normal"]
    problems += [f"{what} answered {status}" for what, status in answers.items() if status == 503]
    return {"problems": problems, "modes": modes, "answers": answers}


# --------------------------------------------------------------------------- 1. preconditions


def preconditions(ctx: Context) -> dict[str, Any]:
    """What the stage works on, checked before anything changes."""
    seed = seed_id(ctx)
    seeds = seed_controllers(ctx)
    stopped = dict(_fact(ctx, SEED_STOPPED_FACT, upgrade_db.STAGE)).get("stopped", {})
    fsid = str(_fact(ctx, FSID_FACT, upgrade_ceph.STAGE))
    mons = dict(_fact(ctx, MONS_FACT, upgrade_ceph.STAGE))
    originals = ctx.facts.controllers()
    hosts = computes(ctx)
    problems = []
    dump = upgrade_db.recorded_dump(ctx)
    if dump is None:
        problems.append("stage 3 recorded no dump")
    else:
        moved = dbcopy.moved(dump["counts"], dbcopy.row_counts(ctx.pool, dump["node"], dump["dbs"]))
        if moved:
            problems.append(f"the original's databases changed since the dump ({'; '.join(moved[:5])}): "
                            "the seed would lose those writes")
    problems += [f"the seed's cluster: {p}" for p in cluster_problems(ctx, seeds)]
    by_name = {n["hostname"]: n for n in ctx.fuel.nodes(seed)}
    defaults = {str(e.get("uid")): e for e in ctx.fuel.deployment_info_defaults(
        seed, [by_name[s]["id"] for s in seeds if s in by_name])}
    plugs = {}
    for node in seeds:
        pairs = wire_patches(defaults.get(str(by_name.get(node, {}).get("id")), {}))
        plugs[node] = pairs
        covered = {b for p in pairs for b in (p["bridge"], p["peer_bridge"])}
        if not set(BRIDGES) <= covered:
            problems.append(f"{node}: Nailgun's default deployment info of the seed patches only {sorted(covered)}, "
                            f"not every one of {', '.join(BRIDGES)}")
    rabbit = seed_rabbit(ctx, seeds[0])
    if not hosts:
        problems.append(f"env {ctx.env_id} has no compute in Fuel")
    if problems:
        raise UpgradeControlError("upgrade-control cannot start: " + "; ".join(problems),
                                  "fix what is named (stages 2-4 must have completed and the original stayed "
                                  "frozen), then run upgrade-control again; nothing was changed")
    return {"seed_env_id": seed, "seed_controllers": seeds, "original_controllers": originals, "computes": hosts,
            "seed_stopped": stopped, "fsid": fsid, "mons": mons, "plugs": plugs,
            "rabbit": {"rabbit_hosts": rabbit["rabbit_hosts"], "rabbit_userid": rabbit["rabbit_userid"]},
            "repo": repo_line(ctx), "osd_ids": preflight.recorded_baseline(ctx)["ceph"]["osd_ids"],
            "vms": baseline_vms(ctx)}


def seed_monitors(ctx: Context, pre: dict[str, Any]) -> dict[str, Any]:
    """Every seed monitor runs (a stopped one is started) in one quorum with the original fsid."""
    seeds = pre["seed_controllers"]
    started = []
    for node in seeds:
        if not ceph.mon_running(ctx.pool, node, node):
            ceph.start_mon(ctx.pool, node, node)
            started.append(node)
    found = upgrade_ceph.wait_seed_quorum(ctx, seeds, pre["fsid"], pre["mons"])
    return {"started": started, "quorum": found}


# --------------------------------------------------------------------------- 2. the switch-over


def seed_read_only(ctx: Context, seeds: list[str]) -> dict[str, list[str]]:
    """The seed's HAProxy files in read-only mode, the L3 agent scheduler let through (loaded when its
    HAProxy starts with the cluster): the seed takes no tenant write before the computes are in, so a
    rollback of control loses none."""
    ctx.journal.fact(MAINTENANCE_FACT, {"active": True, "since": time.time(), "controllers": seeds})
    seen = ctx.pool.fan_out(seeds, lambda node: haproxy.set_mode(ctx.pool, node, "read-only",
                                                                 allow=MAINTENANCE_ALLOW))
    _raise_fan_out(seen.errors, "writing HAProxy's read-only mode on the seed")
    return {node: seen.results[node] for node in seeds}


def set_conf(ctx: Context, node: str, path: str, values: dict[str, dict[str, str]]) -> bool:
    """Set INI options in a node's config file over SFTP (no value in argv); True when it changed."""
    return ctx.pool.edit(node, path, lambda text: ini.set_options(text, values))


def pin_seed(ctx: Context, seeds: list[str]) -> dict[str, Any]:
    """`[upgrade_levels] compute=juno` in each seed controller's nova.conf; nova services already
    running where it changed are restarted (they read it at start)."""
    def one(node: str) -> list[str]:
        if not set_conf(ctx, node, NOVA_CONF, PIN):
            return []
        running = [job for job, on in upstart.jobs(ctx.pool, node).items() if on and job in SEED_NOVA_JOBS]
        for job in running:
            upstart.restart(ctx.pool, node, job)
        return running

    seen = ctx.pool.fan_out(seeds, one)
    _raise_fan_out(seen.errors, "pinning the compute RPC on the seed")
    return {"restarted": seen.results}


def l3_resource(ctx: Context, node: str) -> str:
    """The pacemaker resource (its clone, by Fuel's naming `clone_p_neutron-l3-agent`) that runs the
    L3 agents on the controllers of the cluster `node` belongs to."""
    status = pacemaker.status(ctx.pool, node)
    primitive = next((name for name in sorted(status["resources"]) if name.endswith(L3_AGENT)), None)
    if primitive is None:
        raise UpgradeControlError(f"the pacemaker cluster of {node} has no resource running {L3_AGENT}",
                                  "check the seed's deployment (crm configure show)")
    return status["clones"].get(primitive, primitive)


def _l3_running(ctx: Context, seeds: list[str]) -> list[str]:
    seen = ctx.pool.fan_out(seeds, lambda node: upstart.jobs(ctx.pool, node))
    _raise_fan_out(seen.errors, "listing the seed's jobs")
    return [node for node in seeds if seen.results[node].get(L3_AGENT)]


def register_seed_l3_agents(ctx: Context, seeds: list[str]) -> dict[str, Any]:
    """Each seed controller's L3 agent registered in the seed's neutron DB, then stopped again; done while
    the seed is isolated, so its routers can be bound to them before the cut (`bind_routers`).

    The restored dump lists only the original's agents; an agent registers through neutron-server when it
    first runs. Started now, it hosts nothing: every router is bound to an original agent, and Kilo
    schedules only routers bound to none. Stopped again before the bindings change, it hosts them from its
    first start after the cut (br-prv is not isolated: a seed router running next to the original's
    would answer the tenants' gateway addresses twice)."""
    known = neutrondb.l3_agents(ctx.pool, seeds[0], seeds)
    started = []
    if set(known.values()) != set(seeds):
        for node in seeds:  # agents report their state to neutron-server, which writes their rows
            upstart.start(ctx.pool, node, NEUTRON_SERVER)
        resource = l3_resource(ctx, seeds[0])
        pacemaker.resource_start(ctx.pool, seeds[0], resource)
        started.append(resource)

        def unregistered() -> list[str]:
            known.clear()
            known.update(neutrondb.l3_agents(ctx.pool, seeds[0], seeds))
            return [f"{node}: no L3 agent registered" for node in seeds if node not in known.values()]

        wait_until("the seed's L3 agents registered", unregistered, REGISTER_TIMEOUT,
                   "read neutron-l3-agent's and neutron-server's logs on the seed controllers named")
        pacemaker.resource_stop(ctx.pool, seeds[0], resource)
    wait_until("the seed's L3 agents stopped", lambda: [f"{n} runs {L3_AGENT}" for n in _l3_running(ctx, seeds)],
               SERVICES_TIMEOUT, f"stop {L3_AGENT} by hand (crm resource stop), then re-run")
    return {"agents": known, "started and stopped": started}


def bind_routers(ctx: Context, seeds: list[str], agents: dict[str, str]) -> list[dict[str, Any]]:
    """Every router bound, in the seed's neutron DB, to a seed L3 agent (`agents`: id -> host; least loaded
    first) while those agents are stopped: they host their routers as soon as they start after the cut,
    and the VMs answer again without waiting for the seed's API. The original's own DB is not touched, so
    a rollback puts the original back with its bindings as they were."""
    running = _l3_running(ctx, seeds)
    if running:
        raise UpgradeControlError(f"{L3_AGENT} runs on {', '.join(running)}: it would not see its new routers",
                                  f"stop it (crm resource stop {l3_resource(ctx, seeds[0])}), then re-run")
    hosting = neutrondb.router_bindings(ctx.pool, seeds[0])
    moves = plan_routers(hosting, list(agents))
    neutrondb.rebind(ctx.pool, seeds[0], moves)
    after = neutrondb.router_bindings(ctx.pool, seeds[0])
    left = [router for router, ids in after.items() if not set(ids) & set(agents)]
    if left:
        raise UpgradeControlError(f"routers not bound to a seed L3 agent after the rebind: {left}",
                                  "read the seed's neutron.routerl3agentbindings (mysql on a seed controller)")
    return [{"router": router, "from agents": hosting[router], "to": agents[target]}
            for router, target in moves.items()]


def stop_seed_cluster(ctx: Context, seeds: list[str]) -> dict[str, Any]:
    """The seed's pacemaker stopped everywhere: its members must not fence or split while its overlay
    goes and its wires come."""
    pacemaker.cluster_stop(ctx.pool, seeds[0], all_nodes=True)
    wait_until("the seed's cluster stack stopped", lambda: _cluster_running(ctx, seeds), CLUSTER_TIMEOUT,
               "stop corosync and pacemaker on the seed controllers named (pcs cluster stop), then re-run")
    return {"stopped": seeds}


def _cluster_running(ctx: Context, nodes: list[str]) -> list[str]:
    seen = ctx.pool.fan_out(nodes, lambda node: upstart.jobs(ctx.pool, node))
    _raise_fan_out(seen.errors, "listing the cluster stack")
    return [f"{node} runs {job}" for node in nodes for job in CLUSTER_JOBS if seen.results[node].get(job)]


def kill_original(ctx: Context, originals: list[str]) -> dict[str, Any]:
    """`pcs cluster kill` on every original controller: its VIPs, HAProxy, MySQL and RabbitMQ stop at once."""
    seen = ctx.pool.fan_out(originals, lambda node: pacemaker.cluster_kill(ctx.pool, node))
    _raise_fan_out(seen.errors, "pcs cluster kill on the original")
    left = _cluster_running(ctx, originals)
    if left:
        raise UpgradeControlError(f"the original's cluster stack still runs: {left}",
                                  "kill it by hand (pcs cluster kill on each), then re-run upgrade-control")
    return {"killed": originals}


_facts_lock = threading.Lock()  # fan-out threads merge into one fact: read-modify-write, one at a time


def _remember(ctx: Context, key: str, node: str, records: list[dict[str, Any]]) -> None:
    """Merge `records` into the fact `key` under `node` (a re-run that removes nothing keeps the earlier)."""
    with _facts_lock:
        known = dict(_optional_fact(ctx, key, {}))
        mine = list(known.get(node, []))
        mine += [r for r in records if r not in mine]
        known[node] = mine
        ctx.journal.fact(key, known)


def _still_wired(ctx: Context, nodes: list[str]) -> list[str]:
    seen = ctx.pool.fan_out(nodes, lambda node: network.ovs_ports(ctx.pool, node))
    _raise_fan_out(seen.errors, "reading OVS on the original")
    return [f"{node} is still on the wire ({p['bridge']}<->{p['peer_bridge']})" for node in nodes
            for bridge in BRIDGES for p in network.patches(seen.results[node], bridge)]


def unplug_original(ctx: Context, originals: list[str]) -> dict[str, Any]:
    """Each original controller's br-mgmt/br-ex patch ports deleted; what was removed journaled at once."""
    def one(node: str) -> list[dict[str, Any]]:
        removed = network.unplug(ctx.pool, node, BRIDGES)
        _remember(ctx, UNPLUGGED_FACT, node, removed)
        return removed

    seen = ctx.pool.fan_out(originals, one)
    _raise_fan_out(seen.errors, "unplugging the original")
    wired = _still_wired(ctx, originals)  # before the seed takes their addresses (kill_original saw the jobs stop)
    if wired:
        raise UpgradeControlError("; ".join(wired), "delete those patch ports by hand (ovs-vsctl del-port), then re-run")
    return {node: [f"{p['bridge']}<->{p['peer_bridge']}" for p in seen.results[node]] for node in originals}


def _overlay_of(ports: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"bridge": bridge, **port} for bridge in BRIDGES for port in network.gre_ports(ports, bridge)]


def record_overlay(ctx: Context, seeds: list[str]) -> dict[str, list[str]]:
    """Each seed controller's GRE tunnels of br-mgmt/br-ex journaled (fact `seed_overlay`, what a rollback
    puts back) before the cut, in one write: inside the cut `plug_seed` then deletes them at once."""
    seen = ctx.pool.fan_out(seeds, lambda node: _overlay_of(network.ovs_ports(ctx.pool, node)))
    _raise_fan_out(seen.errors, "reading the seed's overlay")
    with _facts_lock:
        known = dict(_optional_fact(ctx, OVERLAY_FACT, {}))
        for node in seeds:
            mine = list(known.get(node, []))
            known[node] = mine + [g for g in seen.results[node] if g not in mine]
        ctx.journal.fact(OVERLAY_FACT, known)
    return {node: [g["port"] for g in known[node]] for node in seeds}


def plug_seed(ctx: Context, seeds: list[str], plugs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """On each seed controller: the GRE tunnels of br-mgmt/br-ex deleted (journaled first: by
    `record_overlay`, else here), the patch ports of Nailgun's default network scheme added."""
    recorded = dict(_optional_fact(ctx, OVERLAY_FACT, {}))

    def one(node: str) -> dict[str, Any]:
        gre = recorded.get(node)
        if not gre:  # not recorded before the cut: read it and journal it before deleting anything
            gre = _overlay_of(network.ovs_ports(ctx.pool, node))
            _remember(ctx, OVERLAY_FACT, node, gre)
        network.delete_ports(ctx.pool, node, gre)
        network.plug(ctx.pool, node, plugs[node])
        return {"gre deleted": [g["port"] for g in gre],
                "patched": [f"{p['bridge']}<->{p['peer_bridge']}" for p in plugs[node]]}

    seen = ctx.pool.fan_out(seeds, one)
    _raise_fan_out(seen.errors, "plugging the seed")
    return seen.results


def start_seed_cluster(ctx: Context, seeds: list[str]) -> dict[str, Any]:
    pacemaker.cluster_start(ctx.pool, seeds[0], all_nodes=True)
    wait_until("the seed's cluster formed on the management network", lambda: cluster_problems(ctx, seeds),
               CLUSTER_TIMEOUT, "check corosync/pacemaker and br-mgmt (ovs-vsctl show) on the seed controllers")
    return {"members": seeds}


def data_plane_first(resources: list[str]) -> list[str]:
    """Pacemaker resources in the order to start them: those running DATA_PLANE_JOBS first, in that
    order (Fuel names a resource after its job: `clone_p_<job>`), then the others as given."""
    def rank(name: str) -> int:
        return next((i for i, job in enumerate(DATA_PLANE_JOBS) if name.endswith(job)), len(DATA_PLANE_JOBS))

    return sorted(resources, key=rank)


def start_seed_services(ctx: Context, seeds: list[str], stopped: dict[str, Any]) -> dict[str, Any]:
    """What upgrade-db stopped on the seed, started again: its pacemaker resources (the data plane's
    first: the VMs answer again once the L3 agents run) and upstart jobs."""
    for name in data_plane_first(stopped.get("pacemaker", [])):
        pacemaker.resource_start(ctx.pool, seeds[0], name)
    jobs = {node: list(stopped.get("upstart", {}).get(node, [])) for node in seeds}
    done = ctx.pool.fan_out(seeds, lambda node: [upstart.start(ctx.pool, node, job) for job in jobs[node]])
    _raise_fan_out(done.errors, "starting the seed's services")

    def not_running() -> list[str]:
        status = pacemaker.status(ctx.pool, seeds[0])
        resources = status["resources"]
        by_set = {}
        for primitive, clone in status["clones"].items():
            by_set.setdefault(clone, []).append(primitive)
        problems = [f"{name} runs nowhere" for name in stopped.get("pacemaker", [])
                    if not any(resources.get(p) for p in by_set.get(name, [name]))]
        for node in seeds:
            running = upstart.jobs(ctx.pool, node)
            problems += [f"{node}: {job} not running" for job in jobs[node] if not running.get(job)]
        return problems

    wait_until("the seed's services running", not_running, SERVICES_TIMEOUT,
               "start them by hand (crm resource start / start JOB) after reading their logs, then re-run")
    return {"pacemaker": stopped.get("pacemaker", []), "upstart": jobs}


def seed_answers(ctx: Context, seeds: list[str], hosts: list[str]) -> dict[str, Any]:
    """The original's addresses answered by the seed only; another holder ends the wait at once (two
    clusters on one address do not sort themselves out)."""
    found: dict[str, Any] = {}

    def problems() -> list[str]:
        found.clear()
        found.update(address_holders(ctx, seeds, hosts))
        others = [p for p in found["problems"] if "besides the seed" in p]
        if others:
            raise Fatal("; ".join(others))
        return found["problems"]

    wait_until("the original's addresses answered by the seed only", problems, ADDRESS_TIMEOUT,
               "find who else answers (arping from a seed controller) and unplug it at once")
    return {"answers": found["answers"]}


def seed_apis(ctx: Context) -> dict[str, Any]:
    """The seed's APIs answer through the VIPs: a token, and reads of nova, neutron, cinder, glance."""
    seen: dict[str, int] = {}

    def problems() -> list[str]:
        conn = seed_cloud(ctx)
        seen.update(servers=len(cloud.servers(conn)), networks=len(cloud.networks(conn)),
                    volumes=len(cloud.volumes(conn)), images=len(cloud.images(conn)))
        return []

    wait_until("the seed's APIs answering", problems, API_TIMEOUT,
               "check the seed's HAProxy, keystone (apache2) and the API services, then re-run")
    return seen


def seed_ceph(ctx: Context, pre: dict[str, Any]) -> dict[str, Any]:
    """The OSDs back with the seed's monitors (quorum, fsid, every baseline OSD up and in), the flags set
    for the monitors' isolation unset, then HEALTH_OK."""
    seeds = pre["seed_controllers"]
    found: dict[str, Any] = {}
    fix = "check `ceph -s` on a seed controller: monitors, OSD logs on the ceph-osd nodes"

    def problems(health: bool) -> list[str]:
        found.clear()
        found.update(ceph_state(ctx, seeds, pre["fsid"], pre["osd_ids"]))
        return [p for p in found["problems"] if health or not p.startswith("health ")]

    wait_until("the OSDs back with the seed's monitors", lambda: problems(False), CEPH_TIMEOUT, fix)
    flags = [f for f in _optional_fact(ctx, ISOLATION_FLAGS_FACT, []) if f in ceph.flags(ctx.pool, seeds[0])]
    for flag in flags:
        ceph.unset_flag(ctx.pool, seeds[0], flag)
    wait_until("Ceph HEALTH_OK on the seed's monitors", lambda: problems(True), CEPH_TIMEOUT, fix)
    return {"status": found["status"], "unset": flags}


def plan_routers(hosting: dict[str, list[str]], targets: list[str]) -> dict[str, str]:
    """{router: target agent} for each router hosted by none of `targets` (L3 agent ids): the least
    loaded target at that moment (what each hosts already counts; ties by id), routers in id order."""
    load = dict.fromkeys(sorted(targets), 0)
    for ids in hosting.values():
        for agent in ids:
            if agent in load:
                load[agent] += 1
    moves: dict[str, str] = {}
    if not load:
        return moves
    for router, ids in sorted(hosting.items()):
        if any(agent in load for agent in ids):
            continue
        target = min(load, key=lambda agent: (load[agent], agent))
        moves[router] = target
        load[target] += 1
    return moves


def move_routers(ctx: Context, seeds: list[str]) -> list[dict[str, Any]]:
    """Each router not hosted by a live L3 agent of the seed moves to the seed's least loaded live one
    (through the API; after `bind_routers` nothing is left to move: this is the safety net)."""
    conn = seed_cloud(ctx)
    agents = cloud.network_agents(conn)
    live = [a["id"] for a in agents if a["binary"] == L3_AGENT and a["alive"] and a["host"] in seeds]
    if not live:
        raise UpgradeControlError("no L3 agent of the seed is alive",
                                  "check neutron-l3-agent on the seed controllers (crm status), then re-run")
    hosting = {r["id"]: cloud.router_hosts(conn, r["id"]) for r in cloud.routers(conn)}
    host_of = {a["id"]: a["host"] for a in agents}
    moved = []
    for router, target in plan_routers(hosting, live).items():
        for old in hosting[router]:
            cloud.remove_router_from_agent(conn, old, router)
        cloud.add_router_to_agent(conn, target, router)
        moved.append({"router": router, "from": [host_of.get(i, i) for i in hosting[router]], "to": host_of[target]})
    left = router_state(conn, seeds)["problems"]
    if left:
        raise UpgradeControlError("routers not on the seed's L3 agents after the move: " + "; ".join(left),
                                  "move them by hand (neutron l3-agent-router-add), then re-run")
    return moved


def data_plane(ctx: Context, seeds: list[str], vms: list[dict[str, Any]]) -> dict[str, Any]:
    """Every baseline VM answers on its floating IP; refused at once while a router is not on a live L3
    agent of the seed (its VMs cannot answer then)."""
    routers = router_state(seed_cloud(ctx), seeds)["problems"]
    if routers:
        raise UpgradeControlError("; ".join(routers), "move those routers to the seed's L3 agents, then re-run")
    wait_until("every baseline VM answering on its floating IP", lambda: data_plane_problems(ctx, vms),
               DATAPLANE_TIMEOUT, "check the routers' L3 agents and the computes' OVS agents in the seed's API")
    return {"answering": len(vms)}


def switch_over(stage: Stage, hook: Hook, ctx: Context, pre: dict[str, Any], named: Callable[[str], str]) -> None:
    seeds, originals = pre["seed_controllers"], pre["original_controllers"]
    run_step(stage, hook, named("seed maintenance: haproxy read-only"), seed_read_only, ctx, seeds)
    run_step(stage, hook, named("rpc pin on seed controllers"), pin_seed, ctx, seeds)
    agents = run_step(stage, hook, named("seed L3 agents registered"), register_seed_l3_agents, ctx, seeds)["agents"]
    run_step(stage, hook, named("routers bound to the seed's L3 agents"), bind_routers, ctx, seeds, agents)
    run_step(stage, hook, named("seed overlay recorded"), record_overlay, ctx, seeds)
    # The cut: the VMs answer no more from the original's kill until the seed's L3 agents run.
    run_step(stage, hook, named("stop seed cluster"), stop_seed_cluster, ctx, seeds)
    run_step(stage, hook, named("stop original cluster"), kill_original, ctx, originals)
    run_step(stage, hook, named("unplug original"), unplug_original, ctx, originals)
    run_step(stage, hook, named("plug seed"), plug_seed, ctx, seeds, pre["plugs"])
    run_step(stage, hook, named("start seed cluster"), start_seed_cluster, ctx, seeds)
    run_step(stage, hook, named("start seed services"), start_seed_services, ctx, seeds, pre["seed_stopped"])
    run_step(stage, hook, named("addresses answered by the seed"), seed_answers, ctx, seeds, pre["computes"])
    run_step(stage, hook, named("seed APIs answer"), seed_apis, ctx)
    run_step(stage, hook, named("ceph on the seed monitors"), seed_ceph, ctx, pre)
    run_step(stage, hook, named("move routers"), move_routers, ctx, seeds)
    run_step(stage, hook, named("data plane"), data_plane, ctx, seeds, pre["vms"])


# --------------------------------------------------------------------------- rollback of control


def rollback_control(ctx: Context, pre: dict[str, Any]) -> dict[str, Any]:
    """The original back in service, still frozen: the seed unplugged with its overlay back, the original
    re-plugged, its cluster started, MySQL read_only again (mysqld restarted without it)."""
    seeds, originals = pre["seed_controllers"], pre["original_controllers"]
    overlay = dict(_optional_fact(ctx, OVERLAY_FACT, {}))
    unplugged = dict(_optional_fact(ctx, UNPLUGGED_FACT, {}))

    def isolate(node: str) -> None:
        network.unplug(ctx.pool, node, BRIDGES)
        network.add_gre(ctx.pool, node, overlay.get(node, []))

    seen = ctx.pool.fan_out(seeds, isolate)
    _raise_fan_out(seen.errors, "unplugging the seed")
    missing = [node for node in originals if not unplugged.get(node)]
    if missing:  # not journaled (a run that died in between): Nailgun's default network scheme says
        by_name = {n["hostname"]: n["id"] for n in ctx.fuel.nodes(ctx.env_id)}
        for entry in ctx.fuel.deployment_info_defaults(ctx.env_id, [by_name[n] for n in missing if n in by_name]):
            node = next((n for n in missing if str(by_name.get(n)) == str(entry.get("uid"))), None)
            if node is not None:
                unplugged[node] = wire_patches(entry)
    seen = ctx.pool.fan_out(originals, lambda node: network.plug(ctx.pool, node, unplugged.get(node, [])))
    _raise_fan_out(seen.errors, "re-plugging the original")
    pacemaker.cluster_start(ctx.pool, originals[0], all_nodes=True)
    wait_until("the original's cluster formed again", lambda: cluster_problems(ctx, originals), CLUSTER_TIMEOUT,
               "check corosync/pacemaker and br-mgmt on the original controllers (pcs status)")
    seen = ctx.pool.fan_out(originals, lambda node: db.set_read_only(ctx.pool, node, True))
    _raise_fan_out(seen.errors, "setting MySQL read_only on the original")
    arp = upgrade_env.conflicts(ctx, ctx.env_id)
    if arp["problems"]:
        raise UpgradeControlError("after the rollback the original's addresses are answered by others: "
                                  + "; ".join(arp["problems"]), "unplug the seed controllers by hand at once")
    formed = _restart_seed_cluster(ctx, seeds)
    quiet = _quiet_seed(ctx, seeds, pre["seed_stopped"]) if formed == "formed" else "not attempted"
    return {"original serves": originals, "seed isolated": seeds, "seed cluster": formed, "seed services": quiet}


def _quiet_seed(ctx: Context, seeds: list[str], stopped: dict[str, Any]) -> str:
    """What upgrade-db had stopped on the seed, stopped again, as stage 4 left it: the seed's L3 agents
    must not host the routers bound to them (`bind_routers`) next to the original's on br-prv, which
    isolation does not cut. Reported, not raised: the original serves already."""
    try:
        for name in stopped.get("pacemaker", []):
            pacemaker.resource_stop(ctx.pool, seeds[0], name)
        jobs = stopped.get("upstart", {})
        seen = ctx.pool.fan_out(seeds, lambda node: [upstart.stop(ctx.pool, node, job) for job in jobs.get(node, [])])
        _raise_fan_out(seen.errors, "stopping the seed's services")
        wait_until("the seed's L3 agents stopped", lambda: [f"{n} runs {L3_AGENT}" for n in _l3_running(ctx, seeds)],
                   SERVICES_TIMEOUT, f"stop {L3_AGENT} on the seed controllers by hand (crm resource stop)")
    except OctaneError as exc:
        log.error("%s env %s: the seed's services were not stopped again after the rollback: %s", STAGE,
                  ctx.env_id, exc)
        return f"not stopped: {exc.message}"
    return "stopped"


def _restart_seed_cluster(ctx: Context, seeds: list[str]) -> str:
    """The seed's own cluster back on its overlay, as stage 4 left it. The original serves already, so a
    seed that does not come back is reported, not a failed rollback (the next attempt's preconditions
    refuse it until it is repaired)."""
    try:
        pacemaker.cluster_start(ctx.pool, seeds[0], all_nodes=True)
        wait_until("the seed's cluster formed on its overlay", lambda: cluster_problems(ctx, seeds),
                   CLUSTER_TIMEOUT, "check corosync/pacemaker and the GRE tunnels on the seed controllers")
    except OctaneError as exc:
        log.error("%s env %s: the seed's cluster did not come back after the rollback: %s", STAGE, ctx.env_id, exc)
        return f"not formed: {exc.message}"
    return "formed"


def _rollback(stage: Stage, hook: Hook, ctx: Context, pre: dict[str, Any], attempt: int,
              failure: BaseException) -> None:
    """Roll control back after a failed switch-over, journal it, and raise what the operator must know."""
    failed = next((name for name, step in reversed(stage.record["steps"].items()) if step["status"] == "failed"),
                  "the switch-over")
    cause = failure.message if isinstance(failure, OctaneError) else f"{type(failure).__name__}: {failure}"
    fix = failure.fix if isinstance(failure, OctaneError) else None
    log.error("%s env %s: %s failed (%s): rolling control back to the original", STAGE, ctx.env_id, failed, cause)
    try:
        result = run_step(stage, hook, f"rollback #{attempt}", rollback_control, ctx, pre)
    except OctaneError as exc:
        raise UpgradeControlError(
            f"{failed} failed ({cause}), and the rollback to the original failed too: {exc.message}",
            f"{exc.fix or 'fix the cause'}; then put the original back by hand: on the seed controllers delete "
            f"the br-mgmt/br-ex patch ports, on the original controllers add back those the journal fact "
            f"{UNPLUGGED_FACT!r} lists and run `pcs cluster start`") from failure
    ctx.journal.fact(ROLLBACKS_FACT, [*rollbacks(ctx), {"attempt": attempt, "failed": failed, "error": cause,
                                                         "at": time.time()}])
    raise UpgradeControlError(
        f"upgrade-control failed at {failed}: {cause} — control was rolled back: the original controllers answer "
        f"the VIPs again ({', '.join(result['original serves'])}), still in read-only maintenance, and the seed "
        "is isolated again",
        f"{fix or 'fix the cause'}; then run upgrade-control again (attempt {attempt + 1} switches over anew). "
        "Or, to give the upgrade up: " + upgrade_db.how_to_leave(ctx.env_id)) from failure


# --------------------------------------------------------------------------- 3. the computes


def upgrade_packages(ctx: Context, node: str, line: str) -> dict[str, Any]:
    """nova-compute and the OVS agent from the 7.0 repository (those installed; libvirt stays)."""
    before = apt.versions(ctx.pool, node, COMPUTE_PACKAGES)
    if not before.get("nova-compute"):
        raise UpgradeControlError(f"{node} has no nova-compute installed", "check the node's role in Fuel")
    apt.add_source(ctx.pool, node, SOURCE_NAME, line)
    apt.update(ctx.pool, node)
    apt.install(ctx.pool, node, sorted(before))
    after = apt.versions(ctx.pool, node, COMPUTE_PACKAGES)
    old = {name: version for name, version in after.items() if not version.startswith(KILO)}
    if old:
        raise UpgradeControlError(f"{node}: still not Kilo after apt-get install: {old}",
                                  f"check that {line.split()[1]} serves the 7.0 packages to {node}, then re-run")
    return {"before": before, "after": after}


def configure_compute(ctx: Context, node: str, seeds: list[str]) -> dict[str, Any]:
    """nova.conf: the seed's RabbitMQ settings and the RPC pin; neutron.conf: the RabbitMQ settings."""
    rabbit = {"DEFAULT": seed_rabbit(ctx, seeds[0])}
    nova = set_conf(ctx, node, NOVA_CONF, {**rabbit, **PIN})
    neutron = set_conf(ctx, node, NEUTRON_CONF, rabbit)
    return {"nova.conf changed": nova, "neutron.conf changed": neutron}


def restart_compute(ctx: Context, node: str) -> dict[str, Any]:
    for job in COMPUTE_JOBS:
        upstart.restart(ctx.pool, node, job)
    return {"restarted": list(COMPUTE_JOBS)}


def upgrade_computes(stage: Stage, hook: Hook, ctx: Context, pre: dict[str, Any]) -> None:
    """Every compute upgraded in place, in parallel (bounded by the SSH pool's fan-out); each one's steps
    journaled, so a re-run continues each compute where it stopped."""
    seeds = pre["seed_controllers"]

    def one(node: str) -> dict[str, Any]:
        return {
            "packages": stage.call(f"{node}: kilo packages", upgrade_packages, ctx, node, pre["repo"]),
            "configuration": stage.call(f"{node}: rabbit and rpc pin", configure_compute, ctx, node, seeds),
            "restart": stage.call(f"{node}: restart services", restart_compute, ctx, node),
        }

    seen = ctx.pool.fan_out(pre["computes"], one, timeout=apt.INSTALL_TIMEOUT * 2)
    for node, result in sorted(seen.results.items()):
        hook(f"{node}: upgraded in place", result)
    if seen.errors:
        raise UpgradeControlError(
            "computes not upgraded: " + "; ".join(f"{n}: {e}" for n, e in sorted(seen.errors.items())),
            "fix the cause on the computes named, then run upgrade-control again: done computes and steps are "
            "not repeated; the seed serves meanwhile (read-only) and the VMs stay reachable")


def computes_in(ctx: Context, pre: dict[str, Any]) -> dict[str, Any]:
    seeds, hosts = pre["seed_controllers"], pre["computes"]
    found: dict[str, Any] = {}

    def problems() -> list[str]:
        conn = seed_cloud(ctx)
        found.update(computes=compute_state(ctx, conn, hosts, seeds), agents=agent_state(conn, seeds, hosts))
        if found["computes"]["static"]:  # files and packages: waiting changes neither
            raise Fatal("; ".join(found["computes"]["static"]))
        return found["computes"]["problems"] + found["agents"]["problems"]

    wait_until("the computes in the new control plane", problems, COMPUTE_TIMEOUT,
               "read nova-compute's and the OVS agent's logs on the computes named (RabbitMQ login, RPC version)")
    return {"nova-compute": found["computes"]["nova-compute"], "agents": found["agents"]["agents"]}


# --------------------------------------------------------------------------- 4. volumes, maintenance, verify


def update_volume_hosts(ctx: Context, seeds: list[str]) -> list[dict[str, Any]]:
    """Volumes whose host no live cinder-volume of the seed serves move to the seed's backend of that
    name (`cinder-manage volume update_host`): Kilo's cinder-volume reports as `<name>@<backend>`."""
    conn = seed_cloud(ctx)
    live = [s["host"] for s in cloud.volume_services(conn) if s["binary"] == "cinder-volume" and s["state"] == "up"]
    return move_volume_hosts(ctx, conn, seeds[0], live, "the seed", UpgradeControlError)


def move_volume_hosts(ctx: Context, conn: Connection, node: str, live: list[str], side: str,
                      error: type[OctaneError]) -> list[dict[str, Any]]:
    """Every volume whose host is not one of the `live` cinder-volume services moves to the live one
    of the same name (`cinder-manage volume update_host` on `node`); upgrade-control moves them to the
    seed's backends, rollback back to the original's. Refused (`error`) when a name has no single
    live candidate: a guess would point volumes at a backend that does not hold them."""
    stale = sorted({(h or "").split("#")[0] for h in cloud.volume_hosts(conn).values()} - set(live) - {""})
    moved = []
    for current in stale:
        candidates = [h for h in live if h.split("@")[0] == current.split("@")[0]]
        if len(candidates) != 1:
            raise error(f"volumes on {current}: no single live cinder-volume of {side} takes them (live: {live})",
                        f"check cinder-volume on {side}'s controllers (its backend name), then run the same "
                        "command again")
        ctx.pool.check(node, f"cinder-manage volume update_host --currenthost {shlex.quote(current)} "
                             f"--newhost {shlex.quote(candidates[0])}", timeout=600,
                       fix=f"read cinder-manage's error on {node}")
        moved.append({"from": current, "to": candidates[0]})
    return moved


def leave_maintenance(ctx: Context, seeds: list[str]) -> dict[str, Any]:
    """The seed's HAProxy back to normal (one restart of the clone loads it): the APIs take writes again."""
    seen = ctx.pool.fan_out(seeds, lambda node: haproxy.set_mode(ctx.pool, node, "normal"))
    _raise_fan_out(seen.errors, "writing HAProxy's normal mode on the seed")
    haproxy.restart(ctx.pool, seeds[0])
    found: dict[str, Any] = {}

    def problems() -> list[str]:
        found.update(write_state(ctx, seed_cloud(ctx), seeds))
        return found["problems"]

    wait_until("the APIs taking writes", problems, WRITE_TIMEOUT,
               "check /etc/haproxy on the seed controllers and restart p_haproxy, then re-run")
    ctx.journal.fact(MAINTENANCE_FACT, {"active": False, "left": time.time(), "controllers": seeds})
    return {"modes": found["modes"], "answers": found["answers"]}


def verify(ctx: Context, pre: dict[str, Any]) -> dict[str, Any]:
    """What the stage tests check, once more, in one place."""
    seeds, hosts = pre["seed_controllers"], pre["computes"]
    conn = seed_cloud(ctx)
    found = {
        "addresses": address_holders(ctx, seeds, hosts),
        "original": original_state(ctx, pre["original_controllers"]),
        "ceph": ceph_state(ctx, seeds, pre["fsid"], pre["osd_ids"]),
        "computes": compute_state(ctx, conn, hosts, seeds),
        "agents": agent_state(conn, seeds, hosts),
        "routers": router_state(conn, seeds),
        "vms": vm_state(ctx, conn, pre["vms"], hosts),
        "volumes": volume_state(conn),
        "writes": write_state(ctx, conn, seeds),
    }
    problems = [f"{what}: {p}" for what, state in found.items() for p in state["problems"]]
    if problems:
        raise UpgradeControlError("the seed does not serve as it should: " + "; ".join(problems[:15]),
                                  "fix what is named, then run upgrade-control again (done steps are not repeated)")
    return {"vms": len(found["vms"]["vms"]), "computes": found["computes"]["nova-compute"],
            "routers": len(found["routers"]["routers"])}


# --------------------------------------------------------------------------- the stage


def _recorded_seed(ctx: Context) -> int | None:
    try:
        return int(ctx.journal.fact(SEED_FACT))
    except JournalError:
        return None


def run(ctx: Context, step_hook: Hook | None = None) -> dict[str, Any]:
    """upgrade-control: the seed takes over the VIPs, the computes join it, the APIs take writes again.
    A re-run continues; after a rolled-back switch-over it switches over anew."""
    env_id = ctx.facts.env()["id"]
    hook = step_hook or (lambda name, result: None)
    inputs = {"env_id": env_id, "seed_env_id": _recorded_seed(ctx)}
    with ctx.journal.stage(STAGE, inputs=inputs, requires=[PREVIOUS]) as stage:
        attempt = 1 + len(rollbacks(ctx))

        def named(name: str) -> str:
            return name if attempt == 1 else f"{name} #{attempt}"

        pre = run_step(stage, hook, named("preconditions"), preconditions, ctx)
        run_step(stage, hook, named("seed monitors"), seed_monitors, ctx, pre)
        try:
            switch_over(stage, hook, ctx, pre, named)
        except Exception as exc:  # noqa: BLE001 - whatever broke the switch-over, the original goes back
            _rollback(stage, hook, ctx, pre, attempt, exc)
        upgrade_computes(stage, hook, ctx, pre)
        run_step(stage, hook, "computes in the new control plane", computes_in, ctx, pre)
        run_step(stage, hook, "volumes", update_volume_hosts, ctx, pre["seed_controllers"])
        run_step(stage, hook, "leave maintenance", leave_maintenance, ctx, pre["seed_controllers"])
        result = run_step(stage, hook, "verify", verify, ctx, pre)
        return {"seed_env_id": pre["seed_env_id"], "attempt": attempt, **result}
