"""uname, hostname and id: who and what the node is.

The kernel is the one the node's release provisions (Fuel 6.1 and 7.0 both
ship Ubuntu 14.04's 3.13 series); the host name is what `/etc/hostname` and
`/etc/hosts` on the node say, so a rename over SSH shows here.
"""

from __future__ import annotations

from fuellab import releases
from fuellab.node.commands import command
from fuellab.node.commands import opts as getopt
from fuellab.node.context import CommandError, Context

# uname -r / -v of the kernel each release's image boots (the bootstrap image for new nodes).
KERNELS: dict[str | None, tuple[str, str]] = {
    releases.JUNO: ("3.13.0-55-generic", "#94-Ubuntu SMP Thu Jun 18 00:27:10 UTC 2015"),
    releases.KILO: ("3.13.0-66-generic", "#108-Ubuntu SMP Wed Oct 7 15:20:27 UTC 2015"),
    None: ("3.13.0-98-generic", "#145-Ubuntu SMP Sat Oct 8 20:13:07 UTC 2016"),
}


def node_hostname(ctx: Context) -> str:
    try:
        name = ctx.path("/etc/hostname").read_text().strip()
    except OSError:
        name = ""
    return name or ctx.node.hostname


def node_fqdn(ctx: Context) -> str:
    """The first name of the /etc/hosts line that lists the host name, as `hostname -f` resolves it."""
    short = node_hostname(ctx)
    try:
        hosts = ctx.path("/etc/hosts").read_text().splitlines()
    except OSError:
        hosts = []
    for line in hosts:
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and short in fields[1:]:
            return fields[1]
    return short


@command("uname")
async def uname(ctx: Context, argv: list[str]) -> int:
    parsed = getopt.parse(argv, "asnrvmpio", ("all", "kernel-name", "nodename", "kernel-release",
                                             "kernel-version", "machine", "processor",
                                             "hardware-platform", "operating-system"))
    if parsed.args:
        raise CommandError(f"uname: extra operand '{parsed.args[0]}'\n"
                           "Try 'uname --help' for more information.")
    release, version = KERNELS.get(ctx.node.release, KERNELS[None])
    fields = {
        "s": "Linux", "n": node_hostname(ctx), "r": release, "v": version,
        "m": "x86_64", "p": "x86_64", "i": "x86_64", "o": "GNU/Linux",
    }
    longs = {"--kernel-name": "s", "--nodename": "n", "--kernel-release": "r", "--kernel-version": "v",
             "--machine": "m", "--processor": "p", "--hardware-platform": "i",
             "--operating-system": "o"}
    wanted = set()
    for name, _ in parsed.opts:
        if name in ("-a", "--all"):
            wanted |= set(fields)
        else:
            wanted.add(longs.get(name, name.lstrip("-")))
    if not wanted:
        wanted = {"s"}
    ctx.out(" ".join(fields[k] for k in "snrvmpio" if k in wanted) + "\n")
    return 0


@command("hostname")
async def hostname(ctx: Context, argv: list[str]) -> int:
    parsed = getopt.parse(argv, "fsdiAIF:", ("fqdn", "long", "short", "domain", "ip-address",
                                            "all-fqdns", "all-ip-addresses", "file="))
    if parsed.args or parsed.has("-F", "--file"):
        raise CommandError("hostname: the lab does not rename nodes; edit /etc/hostname instead")
    short = node_hostname(ctx).split(".")[0]
    fqdn = node_fqdn(ctx)
    mode = parsed.opts[-1][0].lstrip("-") if parsed.opts else ""
    if mode in ("f", "fqdn", "long", "A", "all-fqdns"):
        ctx.out(fqdn + "\n")
    elif mode in ("s", "short"):
        ctx.out(short + "\n")
    elif mode in ("d", "domain"):
        ctx.out(fqdn.partition(".")[2] + "\n")
    elif mode in ("i", "ip-address", "I", "all-ip-addresses"):
        ips = [ctx.node.ips[n] for n in ("admin", "management", "storage", "public") if n in ctx.node.ips]
        ctx.out((ips[0] if mode in ("i", "ip-address") else " ".join(ips) + " ") + "\n")
    else:
        ctx.out(node_hostname(ctx) + "\n")
    return 0


# Accounts of the base system and of the service packages (uid, gid, package name prefix
# whose installation creates the account; "" for the base system).
SYSTEM_USERS: dict[str, tuple[int, int, str]] = {
    "root": (0, 0, ""), "daemon": (1, 1, ""), "nobody": (65534, 65534, ""), "ntp": (107, 114, "ntp"),
    "nova": (108, 115, "nova-"), "neutron": (109, 116, "neutron-"), "cinder": (110, 117, "cinder-"),
    "glance": (111, 118, "glance-"), "keystone": (112, 119, "keystone"), "heat": (113, 120, "heat-"),
    "mysql": (114, 121, "mysql-"), "rabbitmq": (115, 122, "rabbitmq-"), "haproxy": (116, 123, "haproxy"),
    "hacluster": (117, 124, "pacemaker"), "libvirt-qemu": (118, 125, "libvirt-"),
    "ceph": (119, 126, "ceph"), "memcache": (120, 127, "memcached"),
}


def user_exists(ctx: Context, user: str) -> bool:
    from fuellab import install

    if user not in SYSTEM_USERS:
        return False
    prefix = SYSTEM_USERS[user][2]
    return not prefix or any(p.startswith(prefix) for p in install.installed_packages(ctx.path("/")))


@command("id")
async def id_(ctx: Context, argv: list[str]) -> int:
    parsed = getopt.parse(argv, "ugGnr", ("user", "group", "groups", "name", "real"))
    user = parsed.args[0] if parsed.args else "root"
    if not user_exists(ctx, user):
        raise CommandError(f"id: {user}: no such user")
    uid, gid, _ = SYSTEM_USERS[user]
    by_name = parsed.has("-n", "--name")
    if parsed.has("-u", "--user"):
        ctx.out(f"{user if by_name else uid}\n")
    elif parsed.has("-g", "--group", "-G", "--groups"):
        ctx.out(f"{user if by_name else gid}\n")
    else:
        ctx.out(f"uid={uid}({user}) gid={gid}({user}) groups={gid}({user})\n")
    return 0
