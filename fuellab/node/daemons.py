"""What a running upstart job looks like from inside the node: its processes and sockets.

One table says, for every job the releases install, which processes it runs
(command name, arguments, user) and where it listens. `ps`, `pgrep` and `ss`
read it; nothing else decides what a node runs: the set of running jobs comes
from `fuellab.services.running_jobs` (started jobs plus pacemaker's).

Listen addresses name what the job binds: `any` (0.0.0.0), `any6` (::), or a
network of the node (`management`, `storage`, `public`, `admin`) whose address
the node holds. HAProxy binds what its own configuration files say, so an
edited `/etc/haproxy/conf.d/*.cfg` changes what `ss` shows.

Jobs missing from the table (a job file written by hand) run the program of
their `exec` stanza, as upstart would.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fuellab import services

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Node

# Lab second 0 as a calendar date: what `ps` shows as a process start time.
LAB_EPOCH = datetime(2015, 11, 2, 8, 0, 0, tzinfo=UTC)
COMM_LEN = 15  # the kernel keeps 15 characters of a command name (TASK_COMM_LEN - 1)


@dataclass(frozen=True)
class Proc:
    comm: str
    args: str  # "{id}" is replaced by the instance id, "{host}" by the hostname, "{mgmt}" ...
    user: str = "root"


@dataclass(frozen=True)
class Listen:
    port: int
    on: str  # any | any6 | management | storage | public | admin | haproxy
    proto: str = "tcp"
    proc: int = 0  # index of the process (in Daemon.procs) that owns the socket


@dataclass(frozen=True)
class Daemon:
    procs: tuple[Proc, ...]
    listens: tuple[Listen, ...] = ()


def _py(name: str, user: str, *confs: str) -> Proc:
    args = "".join(f" --config-file={c}" for c in confs)
    return Proc(name, f"/usr/bin/python /usr/bin/{name}{args} --log-file=/var/log/{user}/{name}.log", user)


_NOVA = ("/etc/nova/nova.conf",)
_NEUTRON = ("/etc/neutron/neutron.conf",)
_ERTS = "/usr/lib/erlang/erts-5.10.4/bin"

DAEMONS: dict[str, Daemon] = {
    "ssh": Daemon((Proc("sshd", "/usr/sbin/sshd -D"),), (Listen(22, "any"), Listen(22, "any6"))),
    "ntp": Daemon((Proc("ntpd", "/usr/sbin/ntpd -p /var/run/ntpd.pid -g -u 107:114", "ntp"),),
                  (Listen(123, "any", "udp"),)),
    "nova-api": Daemon((_py("nova-api", "nova", *_NOVA),),
                       (Listen(8773, "management"), Listen(8774, "management"),
                        Listen(8775, "management"))),
    "nova-scheduler": Daemon((_py("nova-scheduler", "nova", *_NOVA),)),
    "nova-conductor": Daemon((_py("nova-conductor", "nova", *_NOVA),)),
    "nova-cert": Daemon((_py("nova-cert", "nova", *_NOVA),)),
    "nova-consoleauth": Daemon((_py("nova-consoleauth", "nova", *_NOVA),)),
    "nova-novncproxy": Daemon((_py("nova-novncproxy", "nova", *_NOVA),), (Listen(6080, "management"),)),
    "nova-compute": Daemon((_py("nova-compute", "nova", *_NOVA, "/etc/nova/nova-compute.conf"),)),
    "keystone": Daemon((_py("keystone-all", "keystone"),),
                       (Listen(5000, "management"), Listen(35357, "management"))),
    "glance-api": Daemon((_py("glance-api", "glance", "/etc/glance/glance-api.conf"),),
                         (Listen(9292, "management"),)),
    "glance-registry": Daemon((_py("glance-registry", "glance", "/etc/glance/glance-registry.conf"),),
                              (Listen(9191, "management"),)),
    "cinder-api": Daemon((_py("cinder-api", "cinder", "/etc/cinder/cinder.conf"),),
                         (Listen(8776, "management"),)),
    "cinder-scheduler": Daemon((_py("cinder-scheduler", "cinder", "/etc/cinder/cinder.conf"),)),
    "cinder-volume": Daemon((_py("cinder-volume", "cinder", "/etc/cinder/cinder.conf"),)),
    "neutron-server": Daemon((_py("neutron-server", "neutron", *_NEUTRON,
                                  "/etc/neutron/plugins/ml2/ml2_conf.ini"),),
                             (Listen(9696, "management"),)),
    "neutron-l3-agent": Daemon((_py("neutron-l3-agent", "neutron", *_NEUTRON, "/etc/neutron/l3_agent.ini"),)),
    "neutron-dhcp-agent": Daemon((_py("neutron-dhcp-agent", "neutron", *_NEUTRON,
                                      "/etc/neutron/dhcp_agent.ini"),)),
    "neutron-metadata-agent": Daemon((_py("neutron-metadata-agent", "neutron", *_NEUTRON,
                                          "/etc/neutron/metadata_agent.ini"),)),
    "neutron-plugin-openvswitch-agent": Daemon((_py("neutron-openvswitch-agent", "neutron", *_NEUTRON,
                                                    "/etc/neutron/plugins/ml2/ml2_conf.ini"),)),
    "heat-api": Daemon((_py("heat-api", "heat", "/etc/heat/heat.conf"),), (Listen(8004, "management"),)),
    "heat-api-cfn": Daemon((_py("heat-api-cfn", "heat", "/etc/heat/heat.conf"),),
                           (Listen(8000, "management"),)),
    "heat-engine": Daemon((_py("heat-engine", "heat", "/etc/heat/heat.conf"),)),
    "mysql": Daemon(
        (Proc("mysqld", "/usr/sbin/mysqld --basedir=/usr --datadir=/var/lib/mysql "
              "--plugin-dir=/usr/lib/mysql/plugin --user=mysql "
              "--wsrep_provider=/usr/lib/galera/libgalera_smm.so --log-error=/var/log/mysql/error.log "
              "--pid-file=/var/run/mysqld/mysqld.pid --socket=/var/run/mysqld/mysqld.sock --port=3307",
              "mysql"),),
        (Listen(3307, "management"), Listen(4567, "any")),
    ),
    "rabbitmq-server": Daemon(
        (Proc("epmd", f"{_ERTS}/epmd -daemon", "rabbitmq"),
         Proc("beam.smp", f"{_ERTS}/beam.smp -W w -K true -A30 -P 1048576 -- -root /usr/lib/erlang "
              "-progname erl -- -home /var/lib/rabbitmq -- -noshell -noinput -s rabbit boot "
              "-sname rabbit@{host} -boot start_sasl -kernel inet_default_connect_options "
              "[{nodelay,true}] -rabbit tcp_listeners [{\"{mgmt}\",5673}]", "rabbitmq")),
        (Listen(4369, "any", proc=0), Listen(5673, "management", proc=1), Listen(41055, "any", proc=1)),
    ),
    "haproxy": Daemon((Proc("haproxy", "/usr/sbin/haproxy -f /etc/haproxy/haproxy.cfg -p /var/run/haproxy.pid"),),
                      (Listen(0, "haproxy"),)),
    "corosync": Daemon((Proc("corosync", "corosync"),),
                       (Listen(5404, "management", "udp"), Listen(5405, "management", "udp"))),
    "pacemaker": Daemon(tuple(
        Proc(name, args, user) for name, args, user in (
            ("pacemakerd", "pacemakerd", "root"),
            ("cib", "/usr/lib/pacemaker/cib", "hacluster"),
            ("stonithd", "/usr/lib/pacemaker/stonithd", "root"),
            ("lrmd", "/usr/lib/pacemaker/lrmd", "root"),
            ("attrd", "/usr/lib/pacemaker/attrd", "hacluster"),
            ("pengine", "/usr/lib/pacemaker/pengine", "hacluster"),
            ("crmd", "/usr/lib/pacemaker/crmd", "hacluster"),
        )
    )),
    "ceph-mon": Daemon((Proc("ceph-mon", "/usr/bin/ceph-mon --cluster=ceph -i {id} -f"),),
                       (Listen(6789, "management"),)),
    "ceph-osd": Daemon((Proc("ceph-osd", "/usr/bin/ceph-osd --cluster=ceph -i {id} -f"),)),
    "apache2": Daemon((Proc("apache2", "/usr/sbin/apache2 -k start"),), (Listen(80, "management"),)),
    "memcached": Daemon((Proc("memcached", "/usr/bin/memcached -m 64 -p 11211 -u memcache -l {mgmt}",
                              "memcache"),), (Listen(11211, "management"),)),
    "libvirt-bin": Daemon((Proc("libvirtd", "/usr/sbin/libvirtd -d -l"),), (Listen(16509, "any"),)),
    "openvswitch-switch": Daemon((
        Proc("ovsdb-server", "ovsdb-server /etc/openvswitch/conf.db -vconsole:emer -vsyslog:err "
             "-vfile:info --remote=punix:/var/run/openvswitch/db.sock --private-key=db:Open_vSwitch,"
             "SSL,private_key --no-chdir --log-file=/var/log/openvswitch/ovsdb-server.log "
             "--pidfile=/var/run/openvswitch/ovsdb-server.pid --detach --monitor"),
        Proc("ovs-vswitchd", "ovs-vswitchd unix:/var/run/openvswitch/db.sock -vconsole:emer "
             "-vsyslog:err -vfile:info --mlockall --no-chdir "
             "--log-file=/var/log/openvswitch/ovs-vswitchd.log "
             "--pidfile=/var/run/openvswitch/ovs-vswitchd.pid --detach --monitor"),
    )),
}

# Kilo's keystone runs inside apache2 (no keystone job): apache then also serves its ports.
KEYSTONE_UNDER_APACHE = (Listen(5000, "management"), Listen(35357, "management"))


# --------------------------------------------------------------------------- the process table


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    user: str
    comm: str
    args: str
    job: str | None  # the upstart job it belongs to (None: init)
    started: float  # lab seconds
    pcpu: float
    pmem: float
    rss: int  # KiB

    @property
    def start_date(self) -> datetime:
        return LAB_EPOCH + timedelta(seconds=self.started)


@dataclass(frozen=True)
class Socket:
    proto: str  # tcp | udp
    address: str  # "*" for any IPv4, "::" for any IPv6, else the address
    port: int
    process: Process


def _job_and_instance(job: str) -> tuple[str, str | None]:
    """`ceph-osd id=3` -> ("ceph-osd", "3")."""
    name, _, rest = job.partition(" ")
    instance = rest.split("=", 1)[1] if "=" in rest else (rest or None)
    return name, instance


def _exec_of(lab: Lab, node: Node, job: str) -> Daemon:
    """A job outside the table runs what its `exec` stanza names."""
    from fuellab.node.context import node_path

    conf = node_path(lab, node, f"/etc/init/{job}.conf")
    try:
        text = conf.read_text()
    except OSError:
        text = ""
    match = re.search(r"^\s*exec\s+(.+)$", text, re.M)
    args = match.group(1).strip() if match else f"/usr/bin/{job}"
    comm = args.split()[0].rsplit("/", 1)[-1]
    return Daemon((Proc(comm, args),))


def daemon_of(lab: Lab, node: Node, job: str) -> Daemon:
    return DAEMONS.get(job) or _exec_of(lab, node, job)


def _stable(node: Node, key: str, low: int, span: int) -> int:
    return low + zlib.crc32(f"{node.id}:{key}".encode()) % span


def _by_hand(node: Node, job: str) -> float | None:
    """When `start`/`restart` last started the job (instance key) since boot; None: not since boot."""
    when = node.started.get(job)
    return when if when is not None and when >= node.booted_at else None


def _started(lab: Lab, node: Node, job: str, key: str) -> float:
    """Boot time, or the last (re)start by hand or by pacemaker (for the resource that runs the job)."""
    started = max(node.booted_at, _by_hand(node, key) or 0.0)
    if node.cluster is not None and node.cluster in lab.world.clusters:
        cluster = lab.world.clusters[node.cluster]
        restarts = cluster.pacemaker.get("restarts", {})
        for res in services.resources(cluster):
            if res.get("job") == job and res["id"] in restarts:
                started = max(started, float(restarts[res["id"]]))
    return started


def processes(lab: Lab, node: Node) -> list[Process]:
    """Every process of the node, by pid: init, then the processes of the running jobs."""
    world = lab.world
    if not node.online:
        return []
    fill = {"host": node.hostname, "mgmt": node.ips.get("management", "")}
    init = Process(1, 0, "root", "init", "/sbin/init", None, node.booted_at, 0.0, 0.0, 1820)
    out = [init]
    used = {1}
    for job in sorted(services.running_jobs(world, node)):
        name, instance = _job_and_instance(job)
        started = _started(lab, node, name, job)
        restarted = _by_hand(node, job)
        for i, proc in enumerate(daemon_of(lab, node, name).procs):
            # A process started again is a new one: another pid.
            pid = _stable(node, f"{job}#{i}" + (f"@{restarted}" if restarted is not None else ""), 600, 32000)
            while pid in used:
                pid += 1
            used.add(pid)
            args = proc.args.replace("{id}", instance or "").replace("{host}", fill["host"])
            args = args.replace("{mgmt}", fill["mgmt"])
            out.append(Process(
                pid=pid, ppid=1, user=proc.user, comm=proc.comm[:COMM_LEN], args=args, job=job,
                started=started,
                pcpu=_stable(node, f"{job}#{i}cpu", 0, 40) / 10,
                pmem=_stable(node, f"{job}#{i}mem", 1, 25) / 10,
                rss=_stable(node, f"{job}#{i}rss", 20000, 180000),
            ))
    return sorted(out, key=lambda p: p.pid)


# --------------------------------------------------------------------------- listening sockets


def _haproxy_binds(lab: Lab, node: Node) -> list[tuple[str, int]]:
    from fuellab.node.context import node_path

    binds: list[tuple[str, int]] = []
    files = [node_path(lab, node, "/etc/haproxy/haproxy.cfg")]
    confd = node_path(lab, node, "/etc/haproxy/conf.d")
    if confd.is_dir():
        files += sorted(confd.glob("*.cfg"))
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for match in re.finditer(r"^\s*bind\s+(\S+)", text, re.M):
            host, _, port = match.group(1).rpartition(":")
            if port.isdigit():
                binds.append((host if host not in ("", "0.0.0.0") else "*", int(port)))
    return binds


def _addresses(node: Node, listen: Listen) -> list[str]:
    if listen.on == "any":
        return ["*"]
    if listen.on == "any6":
        return ["::"]
    address = node.ips.get(listen.on)
    return [address] if address else []


def sockets(lab: Lab, node: Node) -> list[Socket]:
    """The listening sockets of the node's running processes."""
    out: list[Socket] = []
    by_job: dict[str, list[Process]] = {}
    for proc in processes(lab, node):
        if proc.job:
            by_job.setdefault(proc.job, []).append(proc)
    for job, procs in by_job.items():
        name, _ = _job_and_instance(job)
        listens = list(daemon_of(lab, node, name).listens)
        if name == "apache2" and not node_path_exists(lab, node, "/etc/init/keystone.conf") \
                and node_path_exists(lab, node, "/usr/bin/keystone-manage"):
            listens += KEYSTONE_UNDER_APACHE
        for listen in listens:
            proc = procs[min(listen.proc, len(procs) - 1)]
            if listen.on == "haproxy":
                out += [Socket("tcp", host, port, proc) for host, port in _haproxy_binds(lab, node)]
                continue
            out += [Socket(listen.proto, a, listen.port, proc) for a in _addresses(node, listen)]
    seen: set[tuple[str, str, int]] = set()
    unique = []
    for sock in sorted(out, key=lambda s: (s.proto, s.port, s.address)):
        key = (sock.proto, sock.address, sock.port)
        if key not in seen:
            seen.add(key)
            unique.append(sock)
    return unique


def node_path_exists(lab: Lab, node: Node, path: str) -> bool:
    from fuellab.node.context import node_path

    return node_path(lab, node, path).exists()
