"""`octane report`: every report of a run, built from the reports folder, the journal and the
workload monitor's record.

    reports/timeline.png              the workload timeline (runbook.report.timeline)
    reports/compliance.html           requirements -> checks -> evidence, verdicts (runbook.report.compliance)
    reports/allure-report/index.html  Allure's single-file HTML (runbook.report.allure_html)
    reports/junit.xml, junit-*.xml    written by the runs themselves (pytest --junitxml)

Each report is built on its own: one that cannot be built (Allure not installed, no results
yet) is reported with its fix and the others are still written, because the reports of a
failed run are the ones an operator needs most. Before anything is read, the Allure results
are redacted in place with every secret the target loaded (`runbook.redact`), so neither they
nor the HTML generated from them can carry one that a test's output let through.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runbook import redact
from runbook.errors import OctaneError
from runbook.monitor import process
from runbook.monitor import settings as monitor_settings
from runbook.monitor.figures import compute as compute_figures
from runbook.monitor.store import read_events
from runbook.report import allure_html, compliance, results, timeline
from runbook.report import requirements as reqs

TIMELINE = "timeline.png"
COMPLIANCE = "compliance.html"
ALLURE_DIR = "allure-report"
RESULTS_DIR = "allure-results"
SECRET_KEYS = ("password", "token", "secret")


@dataclass
class Artifact:
    name: str
    path: Path
    seconds: float
    error: str | None = None

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.error is None and self.path.is_file() else 0


@dataclass(frozen=True)
class Inputs:
    """Where a run left what the reports are built from."""

    reports: Path
    journal_dir: Path
    env: int
    target_name: str

    @property
    def journal_file(self) -> Path:
        return self.journal_dir / f"env-{self.env}" / "journal.json"

    @property
    def monitor(self) -> monitor_settings.Paths:
        return monitor_settings.paths_for(self.journal_dir, self.env)


# --------------------------------------------------------------------------- reading


def read_journal(path: Path) -> dict[str, Any]:
    """The journal as written (atomically renamed, so read without its lock); {} when none."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Monitor:
    events: list[dict[str, Any]]
    running: bool

    @property
    def now(self) -> float | None:
        return time.time() if self.running else None

    def figures(self) -> dict[str, Any] | None:
        if not self.events:
            return None
        now = (time.time(), time.monotonic()) if self.running else None
        return compute_figures(self.events, now=now)

    def note(self, env: int) -> str:
        if not self.events:
            return (f"No workload monitor record for env {env}: the stages ran without the monitor "
                    "(--no-monitor or OCTANE_NO_MONITOR), so VM reachability and API availability were not measured.")
        starts = [e for e in self.events if e.get("e") == "start"]
        first = _utc(self.events[0].get("t"))
        last = "now (still running)" if self.running else _utc(self.events[-1].get("t"))
        return (f"Workload monitor record from {first} to {last}, {len(starts)} run(s) of the monitor: a TCP probe of "
                "every baseline VM's floating IP and API reads through the original env's endpoint; "
                "bands are the stages and steps the journal recorded.")


def _utc(t: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(t))) if isinstance(t, int | float) else "?"


def read_monitor(paths: monitor_settings.Paths) -> Monitor:
    return Monitor(list(read_events(paths.events)), paths.folder.is_dir() and process.lock_held(paths))


def register_cloud_secrets(clouds_file: Path | None) -> None:
    """Every password, token and secret of the clouds file, registered for redaction."""
    if clouds_file is None:
        return
    try:
        data = yaml.safe_load(Path(clouds_file).read_text())
    except (OSError, yaml.YAMLError):
        return

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and any(word in key.lower() for word in SECRET_KEYS):
            redact.register(node)

    walk(data)


def redact_tree(folder: Path) -> int:
    """Rewrite every text file under `folder` that holds a registered secret; how many were."""
    changed = 0
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        clean = redact.redact(text)
        if clean != text:
            path.write_text(clean, encoding="utf-8")
            changed += 1
    return changed


def write_environment(folder: Path, inputs: Inputs, journal: dict[str, Any]) -> None:
    """Allure's `environment.properties`: the target, the env and its seed on the report's overview."""
    seed = (journal.get("facts") or {}).get("seed_env_id")
    lines = [f"target={inputs.target_name}", f"original.env={inputs.env}"]
    if seed is not None:
        lines.append(f"seed.env={seed}")
    (folder / "environment.properties").write_text(redact.redact("\n".join(lines) + "\n"))


# --------------------------------------------------------------------------- building


def _timed(name: str, path: Path, make: Callable[[], Any]) -> Artifact:
    started = time.monotonic()
    try:
        make()
    except OctaneError as exc:
        return Artifact(name, path, time.monotonic() - started, str(exc))
    return Artifact(name, path, time.monotonic() - started)


def timeline_png(inputs: Inputs, journal: dict[str, Any], monitor: Monitor) -> bytes:
    now = monitor.now or time.time()
    rows = timeline.rows(monitor.events, now=monitor.now)
    note = "" if monitor.events else monitor.note(inputs.env)
    if not journal.get("stages") and not monitor.events:
        note = f"No stage has run for env {inputs.env} and the workload monitor has no record: nothing to draw yet."
    picture = timeline.Picture(f"Workload during the upgrade of env {inputs.env} ({inputs.target_name})",
                               rows, timeline.bands(journal, now), note)
    return timeline.render(picture)


def compliance_html(inputs: Inputs, journal: dict[str, Any], monitor: Monitor, png: bytes | None) -> str:
    found = results.collect(inputs.reports)
    requirements = reqs.load()
    sources = sorted({r.source for r in found.values()})
    page = compliance.Page(
        title="Upgrade compliance report: Fuel 6.1 (Juno) to 7.0 (Kilo)",
        target=inputs.target_name, env=inputs.env, seed=(journal.get("facts") or {}).get("seed_env_id"),
        generated=compliance.now_text(), verdicts=compliance.verdicts(requirements, found),
        stages=compliance.stage_rows(journal), unplaced=compliance.unplaced_results(requirements, found),
        figures=monitor.figures(), monitor_note=monitor.note(inputs.env), timeline_png=png,
        sources=[("Allure results" if s == "allure" else s) for s in sources])
    return compliance.render(page)


def _write_whole(path: Path, data: bytes) -> None:
    """Written whole or not at all (a reader never sees half a report)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def build(inputs: Inputs, clouds_file: Path | None = None) -> list[Artifact]:
    """Every report; each Artifact says where it went, how long it took, or why it is missing."""
    reports = inputs.reports
    reports.mkdir(parents=True, exist_ok=True)
    register_cloud_secrets(clouds_file)
    results_dir = reports / RESULTS_DIR
    if results_dir.is_dir():
        redact_tree(results_dir)
    journal = read_journal(inputs.journal_file)
    monitor = read_monitor(inputs.monitor)
    built: list[Artifact] = []
    picture: dict[str, bytes] = {}

    def make_timeline() -> None:
        picture["png"] = timeline_png(inputs, journal, monitor)
        _write_whole(reports / TIMELINE, picture["png"])

    def make_compliance() -> None:
        html = compliance_html(inputs, journal, monitor, picture.get("png"))
        _write_whole(reports / COMPLIANCE, html.encode("utf-8"))
        allure_html.check_offline(reports / COMPLIANCE)

    def make_allure() -> None:
        if results_dir.is_dir():
            write_environment(results_dir, inputs, journal)
        allure_html.generate(results_dir, reports / ALLURE_DIR)

    built.append(_timed("workload timeline", reports / TIMELINE, make_timeline))
    built.append(_timed("compliance report", reports / COMPLIANCE, make_compliance))
    built.append(_timed("Allure report", reports / ALLURE_DIR / "index.html", make_allure))
    return built
