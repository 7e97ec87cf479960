"""Upstart's job control: status, start, stop, restart, initctl and `service`.

A job exists only where its `/etc/init/JOB.conf` exists on the node. What
runs is `fuellab.services.running_jobs`: the jobs in `Node.jobs` (started at
boot or by hand) plus what pacemaker places on the node. Starting a
pacemaker-managed job by hand makes it run regardless of pacemaker, as on a
real node; stopping a job that pacemaker placed lasts until pacemaker's next
monitor, which the lab runs at once, so it keeps running. Stopping corosync or
pacemaker takes the node out of its cluster (fuellab.services.members).

Instance jobs (`instance $id`, e.g. ceph-osd) take `KEY=VALUE` arguments and
are recorded as "ceph-osd id=3", as boot starts them.
"""

from __future__ import annotations

import re

from fuellab import services
from fuellab.node import daemons
from fuellab.node.commands import command
from fuellab.node.context import CommandError, Context

VERBS = ("start", "stop", "restart", "status", "reload")


class Job:
    """One job (or job instance) of the node, named as the command line named it."""

    def __init__(self, ctx: Context, prog: str, name: str, params: list[str]) -> None:
        self.ctx = ctx
        self.prog = prog
        self.name = name
        conf = ctx.path(f"/etc/init/{name}.conf")
        if "/" in name or not conf.is_file():
            raise CommandError(f"{prog}: Unknown job: {name}")
        text = conf.read_text()
        match = re.search(r"^\s*instance\s+(.+)$", text, re.M)
        env = dict(p.split("=", 1) for p in params if "=" in p)
        bad = [p for p in params if "=" not in p]
        if bad:
            raise CommandError(f"{prog}: Env must be KEY=VALUE pairs")
        self.instance: str | None = None
        self.key = name
        if match:
            template = match.group(1).strip()
            self.instance = re.sub(r"\$\{?(\w+)(?::-([^}]*))?\}?",
                                   lambda m: env.get(m.group(1), m.group(2) or ""), template)
            var = re.search(r"\$\{?(\w+)", template)
            value = env.get(var.group(1), "") if var else ""
            # How boot records instances: "ceph-osd id=3".
            self.key = f"{name} {var.group(1)}={value}" if var else name

    @property
    def label(self) -> str:
        return f"{self.name} ({self.instance})" if self.instance is not None else self.name

    def running(self) -> bool:
        return self.key in services.running_jobs(self.ctx.world, self.ctx.node)

    def pid(self) -> int:
        for proc in daemons.processes(self.ctx.lab, self.ctx.node):
            if proc.job == self.key:
                return proc.pid
        return 0

    def state_line(self) -> str:
        if self.running():
            return f"{self.label} start/running, process {self.pid()}\n"
        return f"{self.label} stop/waiting\n"

    def unknown_instance(self) -> CommandError:
        return CommandError(f"{self.prog}: Unknown instance: {self.instance or ''}")

    # ------------------------------------------------------------------ verbs

    def status(self) -> int:
        if self.instance is not None and not self.running():
            raise self.unknown_instance()
        self.ctx.out(self.state_line())
        return 0

    def _started_now(self) -> None:
        """A new process: `ps` shows its start time, `status` its pid (fuellab.node.daemons)."""
        self.ctx.node.started[self.key] = self.ctx.world.clock.now()

    def start(self) -> int:
        if self.running():
            raise CommandError(f"{self.prog}: Job is already running: {self.label}")
        self.ctx.node.jobs.append(self.key)
        self._started_now()
        self.ctx.world.changed()
        self.ctx.out(self.state_line())
        return 0

    def stop(self) -> int:
        if not self.running():
            raise self.unknown_instance()
        node = self.ctx.node
        if self.key in node.jobs:
            node.jobs.remove(self.key)
            self.ctx.world.changed()
        # A job pacemaker placed is back at its next monitor: the lab's monitor is immediate.
        if self.instance is not None:
            self.ctx.out(f"{self.label} stop/waiting\n")
        else:
            self.ctx.out(f"{self.name} stop/waiting\n")
        return 0

    def restart(self) -> int:
        if not self.running():
            raise self.unknown_instance()
        self._started_now()
        self.ctx.world.changed()
        self.ctx.out(self.state_line())
        return 0

    def reload(self) -> int:
        if not self.running():
            raise self.unknown_instance()
        return 0


def _run(ctx: Context, prog: str, verb: str, args: list[str]) -> int:
    args = [a for a in args if a not in ("-q", "--quiet", "-n", "--no-wait")]
    if not args:
        raise CommandError(f"{prog}: missing job name\nTry `{prog} --help' for more information.")
    job = Job(ctx, prog, args[0], args[1:])
    return getattr(job, verb)()


@command("status", "start", "stop", "restart", "reload")
async def job_control(ctx: Context, argv: list[str]) -> int:
    prog = argv[0].rsplit("/", 1)[-1]
    return _run(ctx, prog, prog, argv[1:])


def _jobs_on_node(ctx: Context) -> list[str]:
    init = ctx.path("/etc/init")
    return sorted(p.stem for p in init.glob("*.conf")) if init.is_dir() else []


@command("initctl")
async def initctl(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    if not args:
        raise CommandError("initctl: missing command\nTry `initctl --help' for more information.")
    verb = args[0]
    if verb == "--version" or verb == "version":
        ctx.out("initctl (upstart 1.12.1)\n")
        return 0
    if verb == "list":
        running = services.running_jobs(ctx.world, ctx.node)
        procs = {p.job: p.pid for p in reversed(daemons.processes(ctx.lab, ctx.node))}
        for name in _jobs_on_node(ctx):
            instances = [j for j in running if j.split(" ", 1)[0] == name and " " in j]
            if instances:
                for key in instances:
                    ctx.out(f"{name} ({key.split('=', 1)[1]}) start/running, process {procs.get(key, 0)}\n")
            elif name in running:
                ctx.out(f"{name} start/running, process {procs.get(name, 0)}\n")
            else:
                ctx.out(f"{name} stop/waiting\n")
        return 0
    if verb in VERBS:
        return _run(ctx, "initctl", verb, args[1:])
    raise CommandError(f"initctl: invalid command: {verb}\nTry `initctl --help' for more information.")


@command("service")
async def service(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    if not args or args[0] in ("--help", "-h"):
        ctx.err("Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]\n")
        return 1 if not args else 0
    if args[0] == "--status-all":
        return 0  # lists /etc/init.d scripts only; the lab's services are all upstart jobs
    name = args[0]
    if not ctx.path(f"/etc/init/{name}.conf").is_file():
        raise CommandError(f"{name}: unrecognized service")
    if len(args) < 2:
        raise CommandError(f"Usage: service {name} {{start|stop|restart|status}}")
    verb = {"force-reload": "restart", "--full-restart": "restart"}.get(args[1], args[1])
    if verb not in VERBS:
        raise CommandError(f"initctl: invalid command: {verb}\nTry `initctl --help' for more information.")
    return _run(ctx, verb, verb, [name, *args[2:]])
