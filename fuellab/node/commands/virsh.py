"""virsh (libvirt-bin 1.2.x) over the node's guests (fuellab.dataplane.domains).

`list [--all] [--name|--uuid]`, `dominfo`, `domstate`, `domuuid`, `domid`,
`start`, `destroy`, `dumpxml`. A domain is named by name, uuid or running id.
libvirtd must run (`libvirt-bin` job), else virsh cannot connect, as on a
real compute.
"""

from __future__ import annotations

from fuellab import services
from fuellab.dataplane import domains
from fuellab.node.commands import command
from fuellab.node.context import CommandError, Context

NO_CONNECTION = (
    "error: failed to connect to the hypervisor\n"
    "error: no valid connection\n"
    "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory"
)


def _connect(ctx: Context) -> None:
    if not services.is_running(ctx.world, ctx.node, "libvirt-bin"):
        raise CommandError(NO_CONNECTION)


def _lookup(ctx: Context, ref: str) -> tuple[str, domains.DomainSpec | None, dict | None]:
    """(name, definition, runtime) of the domain named by name, uuid or id."""
    live = domains.running(ctx.node)
    defined = domains.defined(ctx.world, ctx.node)
    for name, dom in live.items():
        if ref in (name, dom.get("uuid"), str(dom.get("id"))):
            return name, defined.get(name), dom
    for name, spec in defined.items():
        if ref in (name, spec.uuid):
            return name, spec, None
    raise CommandError(f"error: failed to get domain '{ref}'\n"
                       f"error: Domain not found: no domain with matching name '{ref}'")


def _state(dom: dict | None) -> str:
    return str(dom.get("state", domains.RUNNING)) if dom else domains.SHUTOFF


def _list(ctx: Context, args: list[str]) -> int:
    show_all = "--all" in args or "--inactive" in args
    only_inactive = "--inactive" in args
    live = domains.running(ctx.node)
    defined = domains.defined(ctx.world, ctx.node)
    rows: list[tuple[str, str, str, str]] = []
    if not only_inactive:
        for name, dom in sorted(live.items(), key=lambda kv: int(kv[1].get("id", 0))):
            rows.append((str(dom.get("id", "-")), name, _state(dom), str(dom.get("uuid", ""))))
    if show_all:
        for name, spec in sorted(defined.items()):
            if name not in live:
                rows.append(("-", name, domains.SHUTOFF, spec.uuid))
    if "--name" in args:
        ctx.out("".join(f"{r[1]}\n" for r in rows) + "\n")
        return 0
    if "--uuid" in args:
        ctx.out("".join(f"{r[3]}\n" for r in rows) + "\n")
        return 0
    ctx.out(f" {'Id':<5} {'Name':<30} State\n")
    ctx.out("-" * 52 + "\n")
    for ident, name, state, _ in rows:
        ctx.out(f" {ident:<5} {name:<30} {state}\n")
    ctx.out("\n")
    return 0


def _dominfo(ctx: Context, ref: str) -> int:
    name, spec, dom = _lookup(ctx, ref)
    memory = (spec.memory_mb if spec else 0) * 1024
    uptime = max(0.0, ctx.world.clock.now() - float(dom.get("since", 0))) if dom else 0.0
    lines = [
        ("Id", str(dom.get("id")) if dom else "-"),
        ("Name", name),
        ("UUID", spec.uuid if spec else str(dom.get("uuid") if dom else "")),
        ("OS Type", "hvm"),
        ("State", _state(dom)),
        ("CPU(s)", str(spec.vcpus if spec else 1)),
    ]
    if dom:
        lines.append(("CPU time", f"{uptime * 0.02:.1f}s"))
    lines += [
        ("Max memory", f"{memory} KiB"),
        ("Used memory", f"{memory if dom else 0} KiB"),
        ("Persistent", "yes" if spec else "no"),
        ("Autostart", "disable"),
        ("Managed save", "no"),
        ("Security model", "apparmor"),
        ("Security DOI", "0"),
    ]
    if dom:
        lines.append(("Security label", f"libvirt-{spec.uuid if spec else dom.get('uuid')} (enforcing)"))
    ctx.out("".join(f"{key + ':':<16}{value}\n" for key, value in lines) + "\n")
    return 0


@command("virsh")
async def virsh(ctx: Context, argv: list[str]) -> int:
    args = [a for a in argv[1:] if a not in ("-q", "--quiet")]
    while args and args[0] in ("-c", "--connect"):
        args = args[2:]
    if not args or args[0] in ("help", "--help", "-h"):
        ctx.out("Usage: virsh [options]... [<command_string>]\n"
                "  list, dominfo, domstate, domuuid, domid, start, destroy, dumpxml\n")
        return 0
    if args[0] in ("version", "--version", "-v"):
        ctx.out("1.2.12\n" if "--version" in args or "-v" in args else
                "Compiled against library: libvirt 1.2.12\nUsing library: libvirt 1.2.12\n"
                "Using API: QEMU 1.2.12\nRunning hypervisor: QEMU 2.0.0\n")
        return 0
    verb, rest = args[0], args[1:]
    _connect(ctx)
    if verb == "list":
        return _list(ctx, rest)
    names = [a for a in rest if not a.startswith("-")]
    if not names:
        raise CommandError(f"error: command '{verb}' requires <domain> option")
    ref = names[0]
    if verb == "dominfo":
        return _dominfo(ctx, ref)
    name, spec, dom = _lookup(ctx, ref)
    if verb == "domstate":
        ctx.out(f"{_state(dom)}\n\n")
        return 0
    if verb == "domuuid":
        ctx.out(f"{spec.uuid if spec else (dom or {}).get('uuid', '')}\n\n")
        return 0
    if verb == "domid":
        ctx.out(f"{dom.get('id') if dom else '-'}\n\n")
        return 0
    if verb == "dumpxml":
        if spec is None:
            raise CommandError(f"error: failed to get domain '{ref}'")
        ctx.out(domains.render_xml(spec))
        return 0
    if verb == "start":
        if dom is not None:
            raise CommandError("error: Failed to start domain " + name +
                               "\nerror: Requested operation is not valid: domain is already running")
        if spec is None:
            raise CommandError(f"error: failed to get domain '{ref}'")
        domains.start(ctx.world, ctx.node, spec, reboot=True)
        ctx.out(f"Domain {name} started\n\n")
        return 0
    if verb == "destroy":
        if dom is None:
            raise CommandError(f"error: Failed to destroy domain {name}\n"
                               "error: Requested operation is not valid: domain is not running")
        domains.destroy(ctx.world, ctx.node, name)
        ctx.out(f"Domain {name} destroyed\n\n")
        return 0
    raise CommandError(f"error: unknown command: '{verb}'")
