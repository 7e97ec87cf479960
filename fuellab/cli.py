"""`fuellab`: create, start, stop, inspect and break the embedded lab.

    fuellab up [--dir DIR] [--scenario NAME] [--detach] [--computes N ...]
    fuellab down | status | reset | inspect [--dir DIR]
    fuellab snapshot NAME | restore NAME [--dir DIR]
    fuellab fault add --node NODE --op OP --kind KIND [--times K] [--message TEXT]
    fuellab fault list | clear [ID]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fuellab import clientfiles, keys, scenarios
from fuellab.client import ControlClient, ControlError, LabNotRunning
from fuellab.faults import KINDS
from fuellab.lab import DEFAULT_DIR, Lab, Settings

READY_TIMEOUT = 120.0  # seconds `up --detach` waits for every endpoint


class UsageError(Exception):
    """Bad input: the message says what is wrong and how to fix it (exit 2)."""


# --------------------------------------------------------------------------- creation


def knobs_from(args: argparse.Namespace) -> dict[str, int]:
    return {k: getattr(args, k) for k in scenarios.DEFAULT_KNOBS if getattr(args, k, None) is not None}


def create(lab_dir: Path, settings: Settings) -> Lab:
    """Build a new lab's world from its scenario and write it out."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    lab_dir.chmod(0o700)
    settings.save(lab_dir)
    lab = Lab(lab_dir)
    client = keys.ensure_key(lab.client_key, "root@fuel-master")
    lab.world.meta["master_pubkey"] = keys.public_line(client)
    lab.world.meta["time_factor"] = settings.time_factor
    scenarios.build(lab.world, settings.scenario, settings.knobs, settings.prefix)
    lab.world.save()
    clientfiles.write_all(lab)
    return lab


def ensure_created(lab_dir: Path, args: argparse.Namespace) -> None:
    knobs = knobs_from(args)
    if (lab_dir / "world.db").exists():
        existing = Settings.load(lab_dir)
        asked = {"scenario": args.scenario or existing.scenario, **{k: v for k, v in knobs.items()}}
        have = {"scenario": existing.scenario, **existing.knobs}
        differs = {k: v for k, v in asked.items() if have.get(k, scenarios.DEFAULT_KNOBS.get(k)) != v}
        if differs:
            raise UsageError(
                f"the lab in {lab_dir} was created with {have}; asked for {differs}. "
                f"Run `fuellab reset --dir {lab_dir}` after `fuellab down`, or use another --dir."
            )
        if args.time_factor is not None and args.time_factor != existing.time_factor:
            retime(lab_dir, existing, args.time_factor)
        return
    settings = Settings(scenario=args.scenario or "ha-61", knobs=knobs)
    if args.prefix is not None:
        settings.prefix = args.prefix
    if args.ssh_port is not None:
        settings.ssh_port = args.ssh_port
    if args.time_factor is not None:
        settings.time_factor = args.time_factor
    try:
        create(lab_dir, settings)
    except KeyError as exc:
        shutil.rmtree(lab_dir, ignore_errors=True)
        raise UsageError(str(exc.args[0])) from None


def retime(lab_dir: Path, settings: Settings, factor: float) -> None:
    """Run a stopped lab's clock at another speed from now on. Lab time carries on from where it stopped
    (the world keeps its offset in lab seconds), so a lab upgraded half-way at the fast default can run
    one stage in real time (`--time-factor 1`), where the runbook's own latency counts as it would on
    hardware."""
    if factor <= 0:
        raise UsageError(f"--time-factor must be > 0 (wall seconds per lab second), not {factor}")
    lab = Lab.open(lab_dir)
    lab.clock.factor = factor  # before save: the offset it freezes counts the open at the new speed
    lab.world.meta["time_factor"] = factor
    lab.world.save()
    print(f"lab in {lab_dir}: time factor {settings.time_factor} -> {factor} wall s per lab s")
    settings.time_factor = factor
    settings.save(lab_dir)


# --------------------------------------------------------------------------- process control


def running_pid(lab_dir: Path) -> int | None:
    pid_file = lab_dir / "lab.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return None
    except PermissionError:
        pass
    return pid


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_ready(lab_dir: Path, proc: subprocess.Popen[bytes] | None, timeout: float) -> dict[str, Any]:
    """Until the control socket, the Fuel API and every node's SSH port answer."""
    deadline = time.monotonic() + timeout
    client = ControlClient(lab_dir)
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the lab process exited with {proc.returncode}; see {lab_dir / 'lab.log'}")
        try:
            status = client.get("/status")
        except LabNotRunning:
            time.sleep(0.05)
            continue
        if not status["ready"]:
            time.sleep(0.05)
            continue
        host, port = status["fuel"].removeprefix("http://").rsplit(":", 1)
        waiting = [n for n in status["nodes"] if n["online"] and not _port_open(n["admin_ip"], status["ssh_port"])]
        if _port_open(host, int(port)) and not waiting:
            return status
        time.sleep(0.05)
    raise RuntimeError(f"the lab did not answer within {timeout:.0f} s; see {lab_dir / 'lab.log'}")


def cmd_up(args: argparse.Namespace) -> int:
    lab_dir = Path(args.dir)
    if running_pid(lab_dir):
        if args.time_factor is not None and args.time_factor != Settings.load(lab_dir).time_factor:
            raise UsageError(f"the lab in {lab_dir} is running: its time factor changes only while it is "
                             f"stopped. Run `fuellab down --dir {lab_dir}` first.")
        print(f"lab in {lab_dir} is already running (pid {running_pid(lab_dir)})")
        return 0
    started = time.monotonic()
    ensure_created(lab_dir, args)
    if not args.detach:
        from fuellab import daemon

        daemon.run(lab_dir)
        return 0
    log = open(lab_dir / "lab.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        [sys.executable, "-m", "fuellab.daemon", str(lab_dir.resolve())],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )
    status = wait_ready(lab_dir, proc, READY_TIMEOUT)
    print(f"lab ready in {time.monotonic() - started:.1f}s: {len(status['nodes'])} nodes, "
          f"Fuel at {status['fuel']}, target {lab_dir / 'target.yaml'}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    lab_dir = Path(args.dir)
    pid = running_pid(lab_dir)
    if pid is None:
        print(f"no lab running in {lab_dir}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and running_pid(lab_dir):
        time.sleep(0.05)
    if running_pid(lab_dir):
        raise RuntimeError(f"lab pid {pid} did not stop within 30 s")
    print(f"lab in {lab_dir} stopped; state kept")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    status = ControlClient(Path(args.dir)).get("/status")
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    console = Console()
    console.print(f"lab {status['dir']} pid {status['pid']} lab time {status['lab_time']}s  Fuel {status['fuel']}")
    envs = Table("env", "name", "status", "release", "VIPs", title="environments")
    for c in status["clusters"]:
        envs.add_row(str(c["id"]), c["name"], c["status"], c["release"], " ".join(f"{k}={v}" for k, v in c["vips"].items()))
    console.print(envs)
    nodes = Table("node", "admin ip", "env", "roles", "status", "online", "release", "jobs", title="nodes")
    for n in status["nodes"]:
        nodes.add_row(n["hostname"], n["admin_ip"], str(n["cluster"] or "-"), ",".join(n["roles"]) or "-",
                      n["status"], "yes" if n["online"] else "no", n["release"] or "-", str(n["jobs"]))
    console.print(nodes)
    if status["faults"]:
        console.print(f"faults: {len(status['faults'])} (fuellab fault list)")
    if status["ip_conflicts"]:
        console.print(f"[bold red]IP conflicts:[/] {', '.join(status['ip_conflicts'])}")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    lab_dir = Path(args.dir)
    was_running = running_pid(lab_dir) is not None
    if was_running:
        cmd_down(args)
    settings = Settings.load(lab_dir) if (lab_dir / "lab.yaml").exists() else Settings()
    for item in ("world.db", "nodes", "envdbs", "journal", "known_hosts", "clouds.yaml", "target.yaml"):
        path = lab_dir / item
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    create(lab_dir, settings)
    print(f"lab in {lab_dir} reset to scenario {settings.scenario}")
    if was_running:
        up_args = build_parser().parse_args(["up", "--detach", "--dir", args.dir])
        return cmd_up(up_args)
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    lab_dir = Path(args.dir)
    from fuellab import control

    if running_pid(lab_dir):
        result = ControlClient(lab_dir).post("/snapshot", {"name": args.name})
        print(f"snapshot {result['snapshot']} saved")
        return 0
    control.copy_state(lab_dir, control.snapshot_dir(lab_dir, args.name))
    print(f"snapshot {args.name} saved")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    lab_dir = Path(args.dir)
    from fuellab import control

    if running_pid(lab_dir):
        ControlClient(lab_dir).post("/restore", {"name": args.name})
    else:
        src = control.snapshot_dir(lab_dir, args.name)
        if not (src / "world.db").exists():
            raise UsageError(f"no snapshot named {args.name!r} in {lab_dir / 'snapshots'}")
        control.copy_state(src, lab_dir)
    print(f"snapshot {args.name} restored")
    return 0


def cmd_fault(args: argparse.Namespace) -> int:
    client = ControlClient(Path(args.dir))
    if args.fault_cmd == "add":
        fault = client.post("/faults", {"node": args.node, "op": args.op, "kind": args.kind,
                                        "times": args.times, "message": args.message or ""})
        print(f"fault {fault['id']}: {fault['kind']} on {fault['node']} for {fault['op']}"
              + (f" ({fault['times']} times)" if fault["times"] else ""))
    elif args.fault_cmd == "list":
        faults = client.get("/faults")
        if args.json:
            print(json.dumps(faults, indent=2))
        for f in [] if args.json else faults:
            times = "until cleared" if f["times"] is None else f"{f['times']} left"
            print(f"{f['id']:>3}  {f['kind']:<15} {f['node']:<12} {f['op']:<30} {times}, hit {f['hits']}")
    else:
        path = f"/faults/{args.id}" if args.id is not None else "/faults"
        print(f"cleared {client.delete(path)['removed']} fault(s)")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    print(json.dumps(ControlClient(Path(args.dir)).get("/inspect"), indent=2))
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fuellab", description="The embedded Fuel lab for octane.")
    sub = parser.add_subparsers(dest="cmd", required=True)

    def with_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--dir", default=str(DEFAULT_DIR), help="lab directory (default: .lab)")
        return p

    up = with_dir(sub.add_parser("up", help="create (first time) and start the lab"))
    up.add_argument("--scenario", help="scenario to create (default: ha-61)")
    up.add_argument("--detach", action="store_true", help="run in the background; return once every endpoint answers")
    up.add_argument("--prefix", type=int, help="second octet of the first network (default 20: 127.20.0.0/16 ...)")
    up.add_argument("--ssh-port", type=int, help="SSH port of every node (default 22 as root, else 2222)")
    up.add_argument("--time-factor", type=float,
                    help="wall seconds per lab second (default 0.001); given to a stopped lab, changes it")
    for knob, default in scenarios.DEFAULT_KNOBS.items():
        up.add_argument(f"--{knob.replace('_', '-')}", dest=knob, type=int, help=f"scenario size (default {default})")
    up.set_defaults(func=cmd_up)

    for name, func, text in (("down", cmd_down, "stop the lab, keeping its state"),
                             ("reset", cmd_reset, "recreate the lab's world from its scenario"),
                             ("inspect", cmd_inspect, "print the lab's ledger summary as JSON")):
        with_dir(sub.add_parser(name, help=text)).set_defaults(func=func)
    st = with_dir(sub.add_parser("status", help="show nodes, envs, faults"))
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
    for name, func in (("snapshot", cmd_snapshot), ("restore", cmd_restore)):
        p = with_dir(sub.add_parser(name, help=f"{name} the lab's state by name"))
        p.add_argument("name")
        p.set_defaults(func=func)

    fault = with_dir(sub.add_parser("fault", help="inject, list and clear faults"))
    fsub = fault.add_subparsers(dest="fault_cmd", required=True)
    add = fsub.add_parser("add", help="inject a fault")
    add.add_argument("--node", required=True, help="hostname, 'master' or '*' (globs allowed)")
    add.add_argument("--op", required=True, help="operation glob: command name or command line, 'ssh', 'provision', 'METHOD /path'")
    add.add_argument("--kind", required=True, choices=KINDS)
    add.add_argument("--times", type=int, help="how many times it fires (default: until cleared)")
    add.add_argument("--message", help="text of the failure")
    ls = fsub.add_parser("list", help="list faults")
    ls.add_argument("--json", action="store_true")
    clear = fsub.add_parser("clear", help="clear one fault or all")
    clear.add_argument("id", nargs="?", type=int)
    for p in (add, ls, clear):
        p.add_argument("--dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    fault.set_defaults(func=cmd_fault)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"fuellab: {exc}", file=sys.stderr)
        return 2
    except ControlError as exc:
        print(f"fuellab: {exc}", file=sys.stderr)
        return 2 if exc.status < 500 else 1
    except LabNotRunning as exc:
        print(f"fuellab: {exc}", file=sys.stderr)
        return 3
    except (RuntimeError, ValueError) as exc:
        print(f"fuellab: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
