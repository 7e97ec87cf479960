"""Process control: one monitor per env, detached, found again through its lock and pid file.

The running monitor holds an exclusive lock (flock) on `monitor.lock` for its
whole life; the kernel drops the lock when the process ends, however it ends.
So "is a monitor running?" is "is the lock held?", never "does the pid in the
pid file exist?" (pids are reused). The pid file says which process to signal;
`stop` signals it only while the lock is held and only if that pid's command
line is a monitor's, so a stale pid file never gets an unrelated process killed.

`start` runs `python -m runbook.monitor run ...`, which forks twice (the
monitor is re-parented to init, in its own session, so it outlives the pytest
session or shell that started it and is never left a zombie), and returns once
the monitor holds its lock and has written its first record, or has said why
it cannot run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from runbook.errors import MonitorError
from runbook.monitor.settings import Paths, Settings

START_TIMEOUT = 60.0  # seconds `start` waits for the monitor to run (imports, first record)
STOP_TIMEOUT = 15.0  # seconds `stop` waits after SIGTERM (an API request in flight ends within its timeout)
KILL_TIMEOUT = 5.0
POLL = 0.05
LOCK_GRACE = 0.5  # seconds a starting monitor retries the lock: `lock_held` takes it shared for an instant


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None  # the running monitor's pid
    folder: Path
    stale_pid: int | None = None  # a pid file left by a monitor that is gone

    def describe(self) -> str:
        if self.running:
            return f"monitor running (pid {self.pid}), records in {self.folder}"
        stale = f" (stale pid file of pid {self.stale_pid})" if self.stale_pid else ""
        return f"monitor not running{stale}; records in {self.folder}"


def ensure_folder(paths: Paths) -> None:
    try:
        # the env's journal folder too, private as runbook.journal makes it: the monitor may come first
        paths.journal_folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        paths.folder.mkdir(exist_ok=True, mode=0o700)
    except OSError as exc:
        raise MonitorError(f"monitor folder {paths.folder} cannot be created: {exc}",
                           "fix journal_dir in the target or its permissions") from None


# --------------------------------------------------------------------------- lock and pid file


def lock_held(paths: Paths) -> bool:
    """True while a monitor process holds the env's lock."""
    try:
        fd = os.open(paths.lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock taken just to test
    return False


@contextlib.contextmanager
def hold_lock(paths: Paths) -> Iterator[IO[str] | None]:
    """The env's lock for this process's life, or None when another monitor holds it."""
    ensure_folder(paths)
    handle = open(paths.lock, "a")  # noqa: SIM115 - held open for as long as the monitor runs
    deadline = time.monotonic() + LOCK_GRACE
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                yield None
                return
            time.sleep(0.01)
    try:
        yield handle
    finally:
        handle.close()


def still_ours(paths: Paths, held: IO[str]) -> bool:
    """The lock file at its path is the one this process holds (not removed, nor replaced by a new one)."""
    try:
        return os.stat(paths.lock).st_ino == os.fstat(held.fileno()).st_ino
    except OSError:
        return False


def read_pid(paths: Paths) -> int | None:
    try:
        return int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return None


def write_pid(paths: Paths) -> None:
    tmp = paths.pid.with_name(f".{paths.pid.name}.{os.getpid()}")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, paths.pid)


def remove_pid(paths: Paths, pid: int | None = None) -> None:
    """Remove the pid file (only if it still names `pid`, when given)."""
    if pid is None or read_pid(paths) == pid:
        with contextlib.suppress(FileNotFoundError):
            paths.pid.unlink()


def is_monitor_process(pid: int) -> bool:
    """The pid is a live monitor (its command line runs runbook.monitor), not a reused pid."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"runbook.monitor" in argv


def status(paths: Paths) -> Status:
    pid = read_pid(paths)
    if lock_held(paths):
        return Status(True, pid, paths.folder)
    return Status(False, None, paths.folder, stale_pid=pid)


# --------------------------------------------------------------------------- start and stop


def command(target_path: Path, env_id: int, settings: Settings) -> list[str]:
    """The command line that starts (detached) the monitor of an env with these settings."""
    argv = [sys.executable, "-m", "runbook.monitor", "run", "--target", str(target_path), "--env", str(env_id)]
    defaults = Settings()
    for name, value in settings.as_dict().items():
        if value == getattr(defaults, name):
            continue
        flag = f"--{name.replace('_', '-')}"
        argv += [flag] if value is True else [] if value is False else [flag, str(value)]
    return argv


def start(target_path: Path, env_id: int, paths: Paths, settings: Settings | None = None,
          timeout: float = START_TIMEOUT) -> Status:
    """Start the env's monitor unless one runs (then nothing happens); its status."""
    now = status(paths)
    if now.running:
        return now
    argv = command(target_path, env_id, settings or Settings())
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise MonitorError(f"the workload monitor did not start within {timeout:.0f} s",
                           f"see {paths.log}; start it by hand: {' '.join(argv)}") from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise MonitorError(f"the workload monitor did not start: {detail}",
                           f"see {paths.log}; fix the cause, or run without it (pytest --no-monitor)")
    now = status(paths)
    if not now.running:
        raise MonitorError("the workload monitor said it started but holds no lock",
                           f"see {paths.log}")
    return now


def stop(paths: Paths, timeout: float = STOP_TIMEOUT) -> str:
    """Stop the env's monitor (SIGTERM: it writes its last records and exits); what happened."""
    now = status(paths)
    if not now.running:
        if now.stale_pid is not None:
            remove_pid(paths, now.stale_pid)
            return f"no monitor running; removed the stale pid file of pid {now.stale_pid}"
        return "no monitor running"
    pid = _running_pid(paths)
    os.kill(pid, signal.SIGTERM)
    if _wait_unlocked(paths, timeout):
        return f"monitor (pid {pid}) stopped"
    os.kill(pid, signal.SIGKILL)  # it ignored SIGTERM for `timeout` seconds: a bug, but stop means stop
    if _wait_unlocked(paths, KILL_TIMEOUT):
        remove_pid(paths, pid)
        return f"monitor (pid {pid}) did not stop within {timeout:.0f} s and was killed"
    raise MonitorError(f"monitor (pid {pid}) survived SIGKILL", "check the process (ps) and its state")


def _running_pid(paths: Paths) -> int:
    """The pid of the lock's holder (the pid file is written right after the lock is taken)."""
    deadline = time.monotonic() + 2.0
    while True:
        pid = read_pid(paths)
        if pid is not None and is_monitor_process(pid):
            return pid
        if time.monotonic() >= deadline:
            raise MonitorError(f"a monitor holds {paths.lock} but the pid file names "
                               f"{pid if pid is not None else 'nothing'}, which is no monitor",
                               f"find it with `fuser {paths.lock}` and stop it (kill -TERM)")
        time.sleep(POLL)


def _wait_unlocked(paths: Paths, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not lock_held(paths):
            return True
        time.sleep(POLL)
    return not lock_held(paths)


def folders(journal_dir: Path) -> list[Paths]:
    """The monitor folder of every env journaled in `journal_dir`."""
    from runbook.monitor.settings import FOLDER

    return [Paths(p / FOLDER) for p in sorted(Path(journal_dir).glob("env-*")) if (p / FOLDER).is_dir()]


def stop_all(journal_dir: Path, timeout: float = STOP_TIMEOUT) -> list[str]:
    """Stop every env's monitor under a journal folder (for tests that remove a lab)."""
    return [stop(paths, timeout) for paths in folders(journal_dir) if lock_held(paths)]
