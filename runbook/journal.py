"""The upgrade journal: what each stage did, step by step, for one original env.

One journal per original env, `<journal_dir>/env-<id>/journal.json`:

    {"env_id": 1, "created": ..., "facts": {"seed_env_id": 2},
     "stages": {"stage2_upgrade_env": {"status": "done", "started": ..., "ended": ...,
                "inputs": {...}, "error": null,
                "steps": {"clone": {"status": "done", "result": 2, "evidence": [...], ...}}}}}

Why a journal: a stage that stopped half-way (a fault, a timeout, an operator's
Ctrl-C) is run again, and must continue without repeating a step that already
took effect; and a later stage must refuse to run before its predecessors.

Concurrency: a stage holds `journal.lock` (an OS file lock) for its whole
duration, so two runs (two operators, two xdist workers) never act on one env
at once; the second waits up to `lock_timeout` and then refuses. Writes are
atomic (temporary file, fsync, rename), so a crash never leaves half a file.
Evidence, inputs and errors pass through `runbook.redact` before they are
stored.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import filelock

from runbook import redact
from runbook.errors import JournalError

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
DEFAULT_LOCK_TIMEOUT = 30.0  # seconds a second run waits for the first
EVIDENCE_LIMIT = 4000  # characters kept per evidence snippet: the journal is no log store

T = TypeVar("T")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _clean(value: Any) -> Any:
    """JSON-ready and redacted: secrets never reach the journal file."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError) as exc:
        raise JournalError(f"value cannot be journaled: {exc}", "journal plain data (str, int, list, dict)") from None
    return json.loads(redact.redact(text))


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # Compact, encoded in one call: the C encoder, ~4x faster than an indented dump. A stage
        # writes the journal at every step, a few inside upgrade-control's cut-over, where each
        # millisecond is one of the VMs' outage at the lab's time factor. `octane status` or
        # `python -m json.tool` read it for people.
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(data, separators=(",", ":")))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    # The rename itself must survive a crash: fsync the folder.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Journal:
    """The journal of one original env. Use `Journal.open(dir, env_id)`."""

    def __init__(self, folder: Path, env_id: int, lock_timeout: float) -> None:
        self.folder = folder
        self.env_id = env_id
        self.path = folder / "journal.json"
        self.lock_timeout = lock_timeout
        # thread_local=False: worker threads of the run holding the stage (fan-out) may
        # record facts without deadlocking on their own process's lock.
        self._file_lock = filelock.FileLock(str(folder / "journal.lock"), thread_local=False)
        self._mutex = threading.RLock()  # in-process: one writer of `_data` at a time
        self._data = self._read()

    @classmethod
    def open(cls, journal_dir: str | os.PathLike[str], env_id: int,
             lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Journal:
        folder = Path(journal_dir) / f"env-{int(env_id)}"
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise JournalError(f"journal folder {folder} cannot be created: {exc}",
                               "fix journal_dir in the target or its permissions") from None
        return cls(folder, int(env_id), lock_timeout)

    # ------------------------------------------------------------------ persistence

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"env_id": self.env_id, "created": _now(), "facts": {}, "stages": {}}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise JournalError(f"journal {self.path} cannot be read: {exc}",
                               "restore it from a backup; do not delete it while an upgrade is under way") from None
        if data.get("env_id") != self.env_id:
            raise JournalError(f"journal {self.path} belongs to env {data.get('env_id')}, not {self.env_id}",
                               "check journal_dir in the target")
        return data

    def _save(self) -> None:
        with self._mutex:
            _write_atomic(self.path, self._data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self._file_lock.acquire(timeout=self.lock_timeout)
        except filelock.Timeout:
            raise JournalError(
                f"another run holds the journal of env {self.env_id} ({self.folder / 'journal.lock'})",
                f"wait for the other run to finish (waited {self.lock_timeout:.0f} s), then re-run",
            ) from None
        try:
            with self._mutex:
                if self._file_lock.lock_counter == 1:  # first holder: another run may have written
                    self._data = self._read()
            yield
        finally:
            self._file_lock.release()

    # ------------------------------------------------------------------ stages

    @contextlib.contextmanager
    def stage(self, name: str, inputs: dict[str, Any] | None = None,
              requires: Sequence[str] = ()) -> Iterator[Stage]:
        """Run a stage: refused unless every stage in `requires` is done; running, then done or failed.

        A stage may be run again (after a failure, or to re-apply): its done steps are
        skipped. Its inputs must then be those recorded, unless no step took effect yet.
        """
        with self._locked():
            stages = self._data["stages"]
            for needed in requires:
                status = stages.get(needed, {}).get("status", PENDING)
                if status != DONE:
                    raise JournalError(
                        f"stage {name} needs {needed}, which is {status} for env {self.env_id}",
                        f"run {needed} first (journal {self.path})",
                    )
            clean_inputs = _clean(inputs or {})
            record = stages.get(name)
            if record and any(s["status"] == DONE for s in record["steps"].values()) \
                    and record["inputs"] != clean_inputs:
                raise JournalError(
                    f"stage {name} was started with inputs {record['inputs']}, now {clean_inputs}",
                    f"re-run with the recorded inputs, or reset the stage (journal.reset({name!r})) "
                    "once its done steps are known to be undone",
                )
            if record is None:
                record = stages[name] = {"status": PENDING, "started": None, "ended": None,
                                         "inputs": clean_inputs, "error": None, "steps": {}}
            record.update(status=RUNNING, started=_now(), ended=None, inputs=clean_inputs, error=None)
            self._save()
            stage = Stage(self, name, record)
            try:
                yield stage
            except BaseException as exc:
                record.update(status=FAILED, ended=_now(), error=redact.redact(_describe(exc)))
                self._save()
                raise
            record.update(status=DONE, ended=_now())
            self._save()

    def stage_status(self, name: str) -> str:
        return self._data["stages"].get(name, {}).get("status", PENDING)

    def stage_names(self) -> list[str]:
        """The stages recorded, in the order they first ran."""
        return list(self._data["stages"])

    def stage_record(self, name: str) -> dict[str, Any]:
        """A copy of the stage's record (status, error, steps with results and evidence); {} if never run."""
        if not self._file_lock.is_locked:
            self.refresh()
        with self._mutex:
            return json.loads(json.dumps(self._data["stages"].get(name, {})))

    def reset(self, name: str) -> None:
        """Forget a stage (its steps will run again): only once their effects were undone."""
        with self._locked():
            self._data["stages"].pop(name, None)
            self._save()

    def refresh(self) -> None:
        """Re-read the file (another run may have written it since)."""
        with self._mutex:
            self._data = self._read()

    # ------------------------------------------------------------------ facts

    _MISSING = object()

    def fact_or(self, key: str, default: Any = None) -> Any:
        """A fact if a stage recorded it, else `default` (a fact that is optional where it is read)."""
        try:
            return self.fact(key)
        except JournalError:
            return default

    def fact(self, key: str, value: Any = _MISSING) -> Any:
        """Read a fact (`fact("seed_env_id")`) or record one (`fact("seed_env_id", 2)`)."""
        if value is Journal._MISSING:
            if not self._file_lock.is_locked:
                self.refresh()
            facts = self._data["facts"]
            if key not in facts:
                raise JournalError(f"the journal of env {self.env_id} has no fact {key!r}",
                                   "run the stage that records it first")
            return facts[key]
        with self._locked():
            self._data["facts"][key] = _clean(value)
            self._save()
        return value

    def facts(self) -> dict[str, Any]:
        return dict(self._data["facts"])

    # ------------------------------------------------------------------ reporting

    def status(self) -> list[dict[str, Any]]:
        """One row per stage, in the order they first ran: for `octane status` and reports."""
        if not self._file_lock.is_locked:
            self.refresh()
        rows = []
        for name, record in self._data["stages"].items():
            steps = record["steps"].values()
            rows.append({
                "stage": name,
                "status": record["status"],
                "started": record["started"],
                "ended": record["ended"],
                "steps": f"{sum(s['status'] == DONE for s in steps)}/{len(steps)}",
                "error": record["error"] or "",
            })
        return rows

    def render_status(self) -> str:
        rows = self.status()
        header = ["stage", "status", "started", "ended", "steps", "error"]
        table = [header] + [[str(row[h] or "") for h in header] for row in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                 for line in table]
        return "\n".join([f"journal of env {self.env_id}: {self.path}", *lines])


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Stage:
    """A running stage; `step(name)` journals one step of it."""

    def __init__(self, journal: Journal, name: str, record: dict[str, Any]) -> None:
        self.journal = journal
        self.name = name
        self.record = record

    @property
    def inputs(self) -> dict[str, Any]:
        return self.record["inputs"]

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Journal one step. When it is already done, `step.done` is true and `step.result`
        holds the recorded result: the body must then not act again (`if not step.done:`).
        `call()` does that check for you."""
        steps = self.record["steps"]
        record = steps.get(name)
        if record is not None and record["status"] == DONE:
            yield Step(self, name, record, done=True)
            return
        # Steps may run on fan-out threads: records change only under the journal's mutex.
        with self.journal._mutex:
            record = steps[name] = {"status": RUNNING, "started": _now(), "ended": None,
                                    "result": None, "evidence": [], "error": None}
            self.journal._save()
        step = Step(self, name, record, done=False)
        try:
            yield step
        except BaseException as exc:
            with self.journal._mutex:
                record.update(status=FAILED, ended=_now(), error=redact.redact(_describe(exc)))
                self.journal._save()
            raise
        with self.journal._mutex:
            record.update(status=DONE, ended=_now(), result=_clean(step.result))
            self.journal._save()

    def call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` as step `name` and record its result; a done step returns the recorded one."""
        with self.step(name) as step:
            if not step.done:
                step.result = fn(*args, **kwargs)
        return step.result

    def step_status(self, name: str) -> str:
        return self.record["steps"].get(name, {}).get("status", PENDING)


class Step:
    def __init__(self, stage: Stage, name: str, record: dict[str, Any], done: bool) -> None:
        self.stage = stage
        self.name = name
        self.record = record
        self.done = done  # already done in an earlier run: skip the action
        self.result: Any = record["result"] if done else None

    def evidence(self, label: str, text: str) -> None:
        """Keep a (redacted, truncated) snippet: command output, an API answer, a diff."""
        if self.done:
            return
        text = redact.redact(str(text))
        if len(text) > EVIDENCE_LIMIT:
            text = text[:EVIDENCE_LIMIT] + f"\n... ({len(text) - EVIDENCE_LIMIT} more characters)"
        with self.stage.journal._mutex:
            self.record["evidence"].append({"label": redact.redact(label), "text": text, "at": _now()})
            # Saved now, not at the step's end: a long wait's progress shows in `octane status`.
            self.stage.journal._save()
