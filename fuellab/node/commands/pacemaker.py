"""Pacemaker's tools: crm_mon, cibadmin, crm_resource, crm (crmsh 2.1) and pcs 0.9.

Every tool talks to the local cluster stack: on a node whose corosync or
pacemaker is stopped it fails as the real one does. What it shows is the
cluster as this node sees it (fuellab.pacemaker.view): its partition's
members online, the others OFFLINE, resources only where the partition has
quorum. Changes go to the env's `Cluster.pacemaker` (fuellab.pacemaker).
"""

from __future__ import annotations

from fuellab import pacemaker, services
from fuellab.node import cib
from fuellab.node.commands import command
from fuellab.node.commands import opts as getopt
from fuellab.node.context import CommandError, Context
from fuellab.pacemaker import PacemakerError, View

NOT_CONNECTED = 107  # ENOTCONN: what the tools exit with when the local CIB is unreachable


def _view(ctx: Context, prefix: str, status: int = NOT_CONNECTED) -> View:
    try:
        return pacemaker.view(ctx.world, ctx.node)
    except PacemakerError as exc:
        raise CommandError(f"{prefix}{exc}", status) from exc


# --------------------------------------------------------------------------- crm_mon


@command("crm_mon")
async def crm_mon(ctx: Context, argv: list[str]) -> int:
    parsed = getopt.parse(argv, "1XrfnAstoQh:i:", (
        "one-shot", "as-xml", "inactive", "failcounts", "group-by-node", "show-node-attributes",
        "simple-status", "timing-details", "operations", "quiet", "as-html=", "interval=", "xml-file="),
        status=64)
    flags = {name.lstrip("-") for name, _ in parsed.opts}
    # Without a terminal crm_mon would redraw forever; the lab always answers once.
    v = _view(ctx, "Connection to cluster failed: ")
    if flags & {"X", "as-xml"}:
        ctx.out(cib.crm_mon_xml(ctx.world, v))
        return 0
    if flags & {"s", "simple-status"}:
        online = sum(1 for n in v.configured if v.online(n))
        count = sum(cib.instance_count(v, r) for r in services.resources(v.cluster))
        if not v.quorate:
            ctx.out("CLUSTER WARN: no quorum, offline node(s)\n")
            return 1
        offline = len(v.configured) - online
        if offline:
            ctx.out(f"CLUSTER WARN: offline node: {offline}\n")
            return 1
        ctx.out(f"CLUSTER OK: {online} nodes online, {count} resources configured\n")
        return 0
    ctx.out(cib.crm_mon_text(ctx.world, v, inactive=bool(flags & {"r", "inactive"})))
    return 0


# --------------------------------------------------------------------------- cibadmin


@command("cibadmin")
async def cibadmin(ctx: Context, argv: list[str]) -> int:
    parsed = getopt.parse(argv, "Qlo:A:X:", ("query", "local", "scope=", "xpath=", "xml-text=",
                                            "sync-call", "no-children"), status=64)
    if not parsed.has("-Q", "--query"):
        raise CommandError("cibadmin: the lab serves queries only (-Q); change the cluster with crm or pcs", 64)
    scope = parsed.value("-o", "--scope")
    v = _view(ctx, "Call cib_query failed (-107): ")
    try:
        ctx.out(cib.cib_xml(ctx.world, v, scope))
    except PacemakerError as exc:
        raise CommandError(f"Call cib_query failed (-6): {exc}", 105) from exc
    return 0


# --------------------------------------------------------------------------- resource operations


def _locate(ctx: Context, v: View, name: str) -> None:
    res = pacemaker.find_resource(v.cluster, name)
    where = v.where(res["id"])
    if not where:
        ctx.err(f"resource {name} is NOT running\n")
        return
    for node, role in where:
        suffix = " Master" if role == "Master" else ""
        ctx.out(f"resource {name} is running on: {node.hostname}{suffix}\n")


def _resource_op(ctx: Context, v: View, verb: str, name: str, target: str | None = None) -> None:
    world = ctx.world
    if verb == "start":
        pacemaker.set_target_role(world, v.cluster, name, "Started")
    elif verb == "stop":
        pacemaker.set_target_role(world, v.cluster, name, "Stopped")
    elif verb == "restart":
        res = pacemaker.find_resource(v.cluster, name)
        ctx.out(f"INFO: ordering {name} to stop\nINFO: ordering {name} to start\n")
        pacemaker.restart(world, v.cluster, res["id"])
    elif verb == "cleanup":
        pacemaker.cleanup(world, v.cluster, name)
        for node in v.partition:
            ctx.out(f"Cleaning up {name} on {node.hostname}\n")
        ctx.out(f"Waiting for {len(v.partition)} replies from the CRMd.{' OK' if v.partition else ''}\n")
    elif verb in ("move", "migrate"):
        pacemaker.move(world, v, name, target)
    elif verb in ("unmove", "unmigrate", "clear"):
        pacemaker.unmove(world, v.cluster, name)
    else:
        raise PacemakerError(f"unknown resource command {verb}")


@command("crm_resource")
async def crm_resource(ctx: Context, argv: list[str]) -> int:
    parsed = getopt.parse(argv, "r:WLlCMUN:H:Q", (
        "resource=", "locate", "list", "list-raw", "cleanup", "move", "un-move", "clear", "node=",
        "host-uname=", "quiet"), status=64)
    values = {name.lstrip("-"): value for name, value in parsed.opts}
    name = values.get("r") or values.get("resource")
    target = values.get("N") or values.get("node") or values.get("H") or values.get("host-uname")
    v = _view(ctx, "Error signing on to the CIB service: ")
    try:
        if "L" in values or "list" in values:
            ctx.out("".join(line + "\n" for line in cib.resource_lines(v, inactive=True)))
            return 0
        if not name:
            raise CommandError("crm_resource: you need to specify a resource with -r", 64)
        if "W" in values or "locate" in values:
            _locate(ctx, v, name)
        elif "C" in values or "cleanup" in values:
            _resource_op(ctx, v, "cleanup", name)
        elif "M" in values or "move" in values:
            _resource_op(ctx, v, "move", name, target)
        elif "U" in values or "un-move" in values or "clear" in values:
            _resource_op(ctx, v, "unmove", name)
        else:
            raise CommandError("crm_resource: the lab knows --locate, --list, --cleanup, --move, --clear", 64)
    except PacemakerError as exc:
        raise CommandError(f"Error performing operation: {exc}", 6) from exc
    return 0


# --------------------------------------------------------------------------- crm (crmsh)


async def _crm_resource(ctx: Context, v: View, args: list[str]) -> int:
    verb = args[0] if args else "status"
    rest = args[1:]
    if verb in ("status", "show", "list") and not rest:
        ctx.out("".join(line + "\n" for line in cib.resource_lines(v, inactive=True)))
        return 0
    if not rest:
        raise CommandError(f"ERROR: resource.{verb}: missing resource name")
    if verb in ("status", "show", "locate"):
        for name in rest:
            _locate(ctx, v, name)
        return 0
    if verb in ("start", "stop", "restart", "cleanup", "unmove", "unmigrate", "clear"):
        for name in rest:
            _resource_op(ctx, v, verb, name)
        return 0
    if verb in ("move", "migrate"):
        target = next((a for a in rest[1:] if not a.startswith(("force", "lifetime", "P"))), None)
        _resource_op(ctx, v, "move", rest[0], target)
        return 0
    raise CommandError(f"ERROR: resource: unknown command: {verb}")


async def _crm_configure(ctx: Context, v: View, args: list[str]) -> int:
    verb = args[0] if args else "show"
    rest = args[1:]
    if verb == "show":
        if rest[:1] == ["xml"]:
            conf = cib.configuration_xml(ctx.world, v.cluster)
            import xml.etree.ElementTree as ET

            ET.indent(conf, space="  ")
            ctx.out(ET.tostring(conf, encoding="unicode") + "\n")
        else:
            ctx.out(cib.configure_show(ctx.world, v.cluster))
        return 0
    if verb == "property":
        settings = [a for a in rest if "=" in a]
        if not settings:
            raise CommandError("ERROR: configure.property: expected NAME=VALUE")
        for setting in settings:
            name, _, value = setting.partition("=")
            pacemaker.set_property(ctx.world, v.cluster, name.split(":")[-1].strip(), value.strip())
        return 0
    raise CommandError(f"ERROR: configure.{verb}: the lab models show and property only")


async def _crm_node(ctx: Context, v: View, args: list[str]) -> int:
    verb = args[0] if args else "show"
    target = args[1] if len(args) > 1 else ctx.node.hostname
    if verb in ("standby", "online", "ready"):
        pacemaker.set_standby(ctx.world, v.cluster, target, verb == "standby")
        return 0
    if verb in ("show", "list"):
        for node in v.configured:
            ctx.out(f"{node.hostname}({node.id}): normal\n")
            if v.standby(node):
                ctx.out("\tstandby=on\n")
        return 0
    raise CommandError(f"ERROR: node: unknown command: {verb}")


@command("crm")
async def crm(ctx: Context, argv: list[str]) -> int:
    args = [a for a in argv[1:] if a not in ("-F", "--force", "-w", "--wait", "-R", "--regression-tests")]
    if not args:
        raise CommandError("ERROR: the lab's crm runs one command at a time: crm LEVEL COMMAND ...")
    level, rest = args[0], args[1:]
    if level in ("status", "st"):
        v = _view(ctx, "ERROR: status: crm_mon (rc=107): Connection to cluster failed: ")
        ctx.out(cib.crm_mon_text(ctx.world, v))
        return 0
    handlers = {"resource": _crm_resource, "configure": _crm_configure, "node": _crm_node}
    if level not in handlers:
        raise CommandError(f"ERROR: {level}: no such command")
    v = _view(ctx, "ERROR: running cibadmin -Ql: Could not establish cib_rw connection: ", 1)
    try:
        return await handlers[level](ctx, v, rest)
    except PacemakerError as exc:
        raise CommandError(f"ERROR: {exc}") from exc


# --------------------------------------------------------------------------- pcs


def _pcs_targets(ctx: Context, args: list[str]) -> tuple[list, bool]:
    from fuellab.world import Node

    v_cluster = pacemaker.cluster_of(ctx.world, ctx.node)
    if v_cluster is None:
        raise CommandError("Error: unable to read /etc/corosync/corosync.conf")
    configured = services.configured_nodes(v_cluster)
    if "--all" in args:
        names = configured
    else:
        names = [a for a in args if not a.startswith("-")] or [ctx.node.hostname]
    nodes: list[Node] = []
    for name in names:
        node = ctx.world.node_by_hostname(name)
        if node is None or name not in configured:
            raise CommandError(f"Error: {name} is not a node in the cluster")
        nodes.append(node)
    remote = "--all" in args or any(n.id != ctx.node.id for n in nodes)
    return nodes, remote


async def _pcs_cluster(ctx: Context, args: list[str]) -> int:
    verb = args[0] if args else ""
    if verb not in ("stop", "start", "kill"):
        raise CommandError(f"Error: the lab's pcs cluster knows stop, start and kill, not '{verb}'")
    nodes, remote = _pcs_targets(ctx, args[1:])
    if verb == "kill" and remote:
        raise CommandError("Error: pcs cluster kill works on the local node only")
    unreachable = [n for n in nodes if not n.online]
    for node in nodes:
        if not node.online:
            ctx.err(f"{node.hostname}: Unable to connect to {node.hostname} ([Errno 113] No route to host)\n")
            continue
        prefix = f"{node.hostname}: " if remote else ""
        if verb == "start":
            ctx.out(f"{prefix}Starting Cluster...\n")
            pacemaker.start_stack(ctx.world, node)
        else:
            if verb == "stop":
                ctx.out(f"{prefix}Stopping Cluster (pacemaker)...\n{prefix}Stopping Cluster (corosync)...\n")
            pacemaker.stop_stack(ctx.world, node)
    if unreachable:
        raise CommandError(f"Error: unable to {verb} all nodes")
    return 0


async def _pcs_resource(ctx: Context, args: list[str]) -> int:
    verb = args[0] if args else "show"
    rest = [a for a in args[1:] if not a.startswith("--")]
    v = _view(ctx, "Error: unable to get cib: ", 1)
    try:
        if verb in ("show", "status") and not rest:
            ctx.out("".join(line + "\n" for line in cib.resource_lines(v, inactive=True)))
        elif verb in ("enable", "disable"):
            for name in rest:
                _resource_op(ctx, v, "start" if verb == "enable" else "stop", name)
        elif verb in ("restart", "cleanup"):
            for name in rest[:1]:
                _resource_op(ctx, v, verb, name)
                if verb == "restart":
                    ctx.out(f"{name} successfully restarted\n")
        elif verb in ("move", "clear", "ban"):
            if not rest:
                raise CommandError(f"Error: pcs resource {verb} needs a resource id")
            _resource_op(ctx, v, "unmove" if verb == "clear" else "move", rest[0],
                         rest[1] if verb == "move" and len(rest) > 1 else None)
        else:
            raise CommandError(f"Error: the lab's pcs resource does not know '{verb}'")
    except PacemakerError as exc:
        raise CommandError(f"Error: {exc}") from exc
    return 0


@command("pcs")
async def pcs(ctx: Context, argv: list[str]) -> int:
    args = [a for a in argv[1:] if a not in ("-f",)]
    if not args:
        raise CommandError("Usage: pcs [-f file] [-h] [commands]...")
    if args[0] == "status":
        try:
            v = pacemaker.view(ctx.world, ctx.node)
        except PacemakerError as exc:
            raise CommandError("Error: cluster is not currently running on this node") from exc
        lines = [f"Cluster name: env-{v.cluster.id}", *cib.header_lines(ctx.world, v),
                 "Full list of resources:", "", *cib.resource_lines(v, inactive=True), ""]
        ctx.out("\n".join(lines) + "\n")
        ctx.out("PCSD Status:\n" + "".join(
            f"  {n.hostname}: {'Online' if n.online else 'Offline'}\n" for n in v.configured))
        ctx.out("\nDaemon Status:\n  corosync: active/enabled\n  pacemaker: active/enabled\n"
                "  pcsd: active/enabled\n")
        return 0
    if args[0] == "cluster":
        return await _pcs_cluster(ctx, args[1:])
    if args[0] == "resource":
        return await _pcs_resource(ctx, args[1:])
    if args[0] == "property" and args[1:2] == ["set"]:
        v = _view(ctx, "Error: unable to get cib: ", 1)
        for setting in args[2:]:
            name, _, value = setting.partition("=")
            pacemaker.set_property(ctx.world, v.cluster, name, value)
        return 0
    raise CommandError(f"Error: the lab's pcs knows status, cluster, resource and property set, not '{args[0]}'")
