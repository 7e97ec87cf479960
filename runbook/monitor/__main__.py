"""`python -m runbook.monitor run|stop|status|report --target T [--env N]`.

    run     start the env's monitor, detached (nothing happens if one runs); --foreground to
            run the loop in this process instead
    stop    stop it (SIGTERM; it writes its last records)
    status  running or not (exit 0 running, 3 not)
    report  print the figures and write them as JSON (figures.json in the monitor folder)

Exit codes: 0 done, 1 the monitor failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from runbook.config import ENV_VAR, Target, parse_target
from runbook.errors import ConfigError, OctaneError
from runbook.monitor import process
from runbook.monitor.settings import Paths, Settings, paths_for

log = logging.getLogger("runbook.monitor")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runbook.monitor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "stop", "status", "report"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--target", default=None, help=f"target.yaml (default: ${ENV_VAR})")
        cmd.add_argument("--env", type=int, default=None, help="the original env's id (default: the target's)")
        if name == "run":
            defaults = Settings()
            for key, value in defaults.as_dict().items():
                flag = f"--{key.replace('_', '-')}"
                if isinstance(value, bool):
                    cmd.add_argument(flag, action="store_true", default=value)
                else:
                    cmd.add_argument(flag, type=float, default=value, metavar="S")
            cmd.add_argument("--foreground", action="store_true", help="run the loop here (no detach)")
        if name == "report":
            cmd.add_argument("--json", type=Path, default=None, help="where to write the figures")
        if name == "stop":
            cmd.add_argument("--timeout", type=float, default=process.STOP_TIMEOUT)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        path = args.target or os.environ.get(ENV_VAR)
        if not path:
            raise ConfigError("no target given", f"pass --target PATH or set {ENV_VAR}")
        target = parse_target(Path(path))
        env = target.env if args.env is None else args.env
        paths = paths_for(target.journal_dir, env)
        if args.command == "run":
            settings = Settings(**{k: getattr(args, k) for k in Settings().as_dict()})
            if args.foreground:
                return _foreground(target, env, paths, settings)
            return _detach(target, env, paths, settings)
        if args.command == "stop":
            print(process.stop(paths, args.timeout))
            return 0
        if args.command == "status":
            now = process.status(paths)
            print(now.describe())
            return 0 if now.running else 3
        from runbook import monitor

        _, text = monitor.report(target, env, args.json)
        print(text)
        print(f"\nfigures written to {args.json or paths.figures}")
        return 0
    except OctaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1


# --------------------------------------------------------------------------- running


def _serve(target: Target, env: int, paths: Paths, settings: Settings, tell: Callable[[str], None]) -> int:
    """Hold the lock, write the pid file, run the loop; `tell(message)` reports readiness once."""
    with process.hold_lock(paths) as held:
        if held is None:
            tell(f"busy {process.read_pid(paths) or '?'}")
            return 0
        process.write_pid(paths)
        try:
            from runbook.monitor.runner import Monitor

            monitor = Monitor(target, env, settings, paths, owned=lambda: process.still_ours(paths, held))
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, lambda num, _frame: monitor.stop(f"signal {signal.Signals(num).name}"))
            log.info("monitor of env %s (pid %s) starting: %s", env, os.getpid(), settings.as_dict())
            monitor.run(ready=lambda: tell(f"ready {os.getpid()}"))
        except Exception as exc:
            log.exception("monitor failed")
            tell(f"error {type(exc).__name__}: {exc}")
            return 1
        finally:
            process.remove_pid(paths, os.getpid())
    return 0


def _logging(stream: TextIO) -> None:
    from runbook.redact import RedactingFilter

    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("openstack", "keystoneauth", "urllib3", "stevedore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _foreground(target: Target, env: int, paths: Paths, settings: Settings) -> int:
    _logging(sys.stderr)

    def tell(message: str) -> None:
        print(f"monitor {message}", flush=True)

    return _serve(target, env, paths, settings, tell)


def _detach(target: Target, env: int, paths: Paths, settings: Settings) -> int:
    """Fork twice (the monitor leaves this session and is re-parented to init); wait until it runs."""
    now = process.status(paths)
    if now.running:
        print(f"monitor already running (pid {now.pid}); nothing done")
        return 0
    process.ensure_folder(paths)
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        os._exit(_daemon(target, env, paths, settings, write_end))
    os.close(write_end)
    os.waitpid(child, 0)
    message = _read_message(read_end, process.START_TIMEOUT)
    os.close(read_end)
    word, _, rest = message.partition(" ")
    if word == "ready":
        print(f"monitor started (pid {rest}); records in {paths.folder}")
        return 0
    if word == "busy":
        print(f"monitor already running (pid {rest}); nothing done")
        return 0
    print(f"error: the monitor did not start: {rest or message or 'it exited without a word'} "
          f"— see {paths.log}", file=sys.stderr)
    return 1


def _daemon(target: Target, env: int, paths: Paths, settings: Settings, write_end: int) -> int:
    try:
        os.chdir("/")
        os.umask(0o077)
        devnull = os.open(os.devnull, os.O_RDONLY)
        logfile = os.open(paths.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(devnull, 0)
        os.dup2(logfile, 1)
        os.dup2(logfile, 2)
        os.close(devnull)
        os.close(logfile)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        _logging(sys.stderr)
        told = []

        def tell(message: str) -> None:
            if not told:
                told.append(message)
                os.write(write_end, message.encode()[:4000])
                os.close(write_end)

        code = _serve(target, env, paths, settings, tell)
        tell("error the monitor ended before it was ready")
        return code
    except BaseException:  # noqa: BLE001 - a forked child must never return into the caller's code
        logging.getLogger("runbook.monitor").exception("monitor daemon failed")
        return 1


def _read_message(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "error no word from the monitor within the start timeout"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return b"".join(chunks).decode(errors="replace")
        chunks.append(chunk)


if __name__ == "__main__":
    sys.exit(main())
