"""Which control plane a compute belongs to, read from its own configuration.

nova-compute talks to its control plane through RabbitMQ only. The lab reads
the compute's `/etc/nova/nova.conf` (rabbit_hosts, rabbit_userid,
rabbit_password, `[upgrade_levels] compute`) each time it is asked, so an edit
over SSH takes effect at once (the lab does not model the window between an
edit and `restart nova-compute`; the runbook restarts anyway).

nova-compute is *up* in env E when all of these hold:

- the job `nova-compute` runs on the compute (an online node);
- one of its rabbit_hosts is answered, from the compute's management segment,
  by a controller of E that holds that address and runs rabbitmq-server
  (fuellab.network: an isolated or unplugged controller answers nobody);
- the credentials are E's RabbitMQ user and password;
- a conductor of E runs in that segment (heartbeats go through it);
- the RPC versions match: for every conductor of E in that segment, the
  compute's installed nova-compute is of the same release as the conductor's
  nova-conductor package, or it is Juno under a Kilo conductor and both the
  compute's and that conductor's nova.conf pin `[upgrade_levels] compute=juno`.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fuellab import install, services
from fuellab.dataplane.domains import resolve
from fuellab.world import Cluster, Node, World

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.network import Vertex

NOVA_CONF = "/etc/nova/nova.conf"
RABBIT_DEFAULT_PORT = 5672
CODENAMES = ("juno", "kilo")  # oldest first
# Aliases nova's [upgrade_levels] accepts for the Juno compute RPC API.
JUNO_PINS = ("juno", "3.35", "icehouse-compat")


@dataclass(frozen=True)
class NovaConf:
    rabbit_hosts: tuple[tuple[str, int], ...]
    userid: str
    password: str
    pin: str | None  # [upgrade_levels] compute
    images_type: str
    live_migration_flag: str
    options: dict[str, str]  # [DEFAULT], for allocation ratios and the like


def parse_nova_conf(text: str) -> NovaConf:
    parser = configparser.ConfigParser(interpolation=None, strict=False, default_section="__none__")
    try:
        parser.read_string(text)
    except configparser.Error:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
    default = dict(parser["DEFAULT"]) if parser.has_section("DEFAULT") else {}

    def get(section: str, option: str, fallback: str = "") -> str:
        if parser.has_section(section):
            return parser.get(section, option, fallback=fallback).strip()
        return fallback

    hosts: list[tuple[str, int]] = []
    raw = default.get("rabbit_hosts") or (
        f"{default['rabbit_host']}:{default.get('rabbit_port', RABBIT_DEFAULT_PORT)}"
        if default.get("rabbit_host") else "")
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        hosts.append((host, int(port) if port.isdigit() else RABBIT_DEFAULT_PORT))
    pin = get("upgrade_levels", "compute") or None
    return NovaConf(tuple(hosts), default.get("rabbit_userid", "guest").strip(),
                    default.get("rabbit_password", "guest").strip(), pin,
                    get("libvirt", "images_type", "default"),
                    get("libvirt", "live_migration_flag"), default)


_conf_cache: dict[Path, tuple[tuple[int, int, int], NovaConf]] = {}


def nova_conf(world: World, node: Node) -> NovaConf | None:
    path = resolve(world, node, NOVA_CONF)
    try:
        st = path.stat()
    except OSError:
        return None
    sig = (st.st_ino, st.st_mtime_ns, st.st_size)
    hit = _conf_cache.get(path)
    if hit is not None and hit[0] == sig:
        return hit[1]
    try:
        conf = parse_nova_conf(path.read_text())
    except OSError:
        return None
    _conf_cache[path] = (sig, conf)
    return conf


def codename_of_version(version: str | None) -> str | None:
    """'1:2014.2.2-fuel6.1~mira19' -> 'juno'."""
    if not version:
        return None
    upstream = version.split(":", 1)[-1]
    if upstream.startswith("2014.2"):
        return "juno"
    if upstream.startswith("2015.1"):
        return "kilo"
    return None


_pkg_cache: dict[Path, tuple[tuple[int, int], dict[str, str]]] = {}


def installed(world: World, node: Node) -> dict[str, str]:
    path = world.rootfs(node) / install.DPKG_STATUS
    try:
        st = path.stat()
    except OSError:
        return {}
    sig = (st.st_mtime_ns, st.st_size)
    hit = _pkg_cache.get(path)
    if hit is None or hit[0] != sig:
        hit = (sig, install.installed_packages(world.rootfs(node)))
        _pkg_cache[path] = hit
    return hit[1]


def nova_release(world: World, node: Node, package: str = "nova-compute") -> str | None:
    """The OpenStack release (codename) of the node's installed nova package."""
    return codename_of_version(installed(world, node).get(package))


def older(a: str | None, b: str | None) -> bool:
    """True when release codename `a` is older than `b`."""
    if a not in CODENAMES or b not in CODENAMES:
        return False
    return CODENAMES.index(a) < CODENAMES.index(b)


# --------------------------------------------------------------------------- reaching RabbitMQ


def mgmt_segment(lab: Lab, node: Node) -> Vertex | None:
    """The management segment the node's own address sits in (None: not on any)."""
    address = node.ips.get("management")
    if not address:
        return None
    for holder in lab.addresses.holders().get(address, []):
        if holder.node_id == node.id and holder.vip is None:
            return holder.segment
    return None


def rabbit_brokers(lab: Lab, node: Node, conf: NovaConf) -> list[tuple[Node, Vertex]]:
    """Controllers answering one of the compute's rabbit_hosts: (controller, segment)."""
    segment = mgmt_segment(lab, node)
    if segment is None:
        return []
    world = lab.world
    out: list[tuple[Node, Vertex]] = []
    for host, port in conf.rabbit_hosts:
        if port != 5673:  # Fuel's RabbitMQ listens on the node's management address, port 5673
            continue
        for holder in lab.addresses.live_holders(host, segment):
            broker = world.nodes.get(holder.node_id)
            if broker is None or holder.vip is not None or holder.network != "management":
                continue
            if "controller" in broker.roles and services.is_running(world, broker, "rabbitmq-server"):
                out.append((broker, segment))
    return out


def managing_planes(lab: Lab, node: Node) -> list[int]:
    """Envs whose RabbitMQ the compute's nova.conf reaches (whatever the credentials)."""
    conf = nova_conf(lab.world, node)
    if conf is None or not node.online:
        return []
    seen: list[int] = []
    for broker, _ in rabbit_brokers(lab, node, conf):
        if broker.cluster is not None and broker.cluster not in seen:
            seen.append(broker.cluster)
    return seen


def _conductors(lab: Lab, cluster: Cluster, segment: Vertex) -> list[Node]:
    world = lab.world
    return [n for n in world.cluster_nodes(cluster.id)
            if "controller" in n.roles and services.is_running(world, n, "nova-conductor")
            and mgmt_segment(lab, n) == segment]


def why_down(lab: Lab, cluster: Cluster, node: Node) -> str | None:
    """Why nova-compute of `node` is not up in env `cluster` (None: it is up)."""
    world = lab.world
    if not node.online:
        return "the node is down"
    if not services.is_running(world, node, "nova-compute"):
        return "nova-compute is not running"
    conf = nova_conf(world, node)
    if conf is None:
        return f"no {NOVA_CONF}"
    brokers = [(b, s) for b, s in rabbit_brokers(lab, node, conf) if b.cluster == cluster.id]
    if not brokers:
        return "AMQP server unreachable: no RabbitMQ of the env answers rabbit_hosts"
    rabbit = cluster.generated.get("rabbit", {})
    if conf.userid != rabbit.get("user") or conf.password != rabbit.get("password"):
        return "AMQP server refused the login (ACCESS_REFUSED)"
    conductors = _conductors(lab, cluster, brokers[0][1])
    if not conductors:
        return "no nova-conductor answers on the env's RabbitMQ"
    return rpc_mismatch(world, node, conf, conductors)


def rpc_mismatch(world: World, node: Node, conf: NovaConf, conductors: list[Node]) -> str | None:
    """Why the compute and the running conductors do not understand each other's RPC (None: they do).

    The release of each side is the nova code it runs (its installed package), so an
    `apt-get install` of Kilo's nova-conductor makes a Kilo control plane."""
    mine = nova_release(world, node)
    if mine is None:
        return "nova-compute is not installed"
    for ctl in conductors:
        theirs = nova_release(world, ctl, "nova-conductor")
        if theirs == mine:
            continue
        if mine == "juno" and theirs == "kilo":
            if (conf.pin or "").lower() not in JUNO_PINS:
                return ("Juno nova-compute without [upgrade_levels] compute=juno under Kilo "
                        f"controllers ({ctl.hostname})")
            ctl_conf = nova_conf(world, ctl)
            if ctl_conf is None or (ctl_conf.pin or "").lower() not in JUNO_PINS:
                return f"{ctl.hostname} sends Kilo compute RPC: no [upgrade_levels] compute=juno there"
            continue
        return f"nova-compute RPC API of {mine} is not accepted by {theirs} nova-conductor on {ctl.hostname}"
    return None


def compute_up(lab: Lab, cluster: Cluster | int, host: str) -> bool:
    """Is nova-compute of `host` (a hostname) up in the control plane of env `cluster`?"""
    world = lab.world
    env = world.clusters.get(cluster if isinstance(cluster, int) else cluster.id)
    node = world.node_by_hostname(host)
    if env is None or node is None:
        return False
    return why_down(lab, env, node) is None
