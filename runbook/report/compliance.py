"""The compliance report: each requirement of the upgrade spec, the checks that prove it, their
results and evidence, and a verdict; with the stages as the journal recorded them, the workload
timeline and the monitor's figures. One HTML file: inline CSS, the picture as a data: URI,
no script, no external reference.

Verdicts, from the checks' latest results (`runbook.report.results`):

- failed: a check failed or errored;
- proved: every check passed;
- incomplete: some passed, the others did not run (a later stage not run yet, or skipped);
- not run: no check ran.

A check that names no test that ran (a stage that did not run, or a stage this octane does not
have yet) is listed as it is written, not run. The monitor's figures are shown beside the
requirements that name them, as measured evidence: they inform, the verdict is the checks'.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook import redact
from runbook.report import requirements as reqs
from runbook.report.results import ERROR, FAILED, PASSED, SKIPPED, Evidence, Result

TEMPLATES = Path(__file__).with_name("templates")
PROVED, FAILED_VERDICT, INCOMPLETE, NOT_RUN = "proved", "failed", "incomplete", "not run"
NOT_RAN = "not run"  # a check's status when it has no result
VERDICTS = (PROVED, FAILED_VERDICT, INCOMPLETE, NOT_RUN)


@dataclass
class CheckRow:
    check: str  # the node id (or the requirement's pattern, when nothing it names ran)
    status: str  # passed | failed | error | skipped | not run
    message: str = ""
    duration: float | None = None
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def short(self) -> str:
        return self.check.removeprefix("runbook/stages/")


@dataclass
class Verdict:
    requirement: reqs.Requirement
    verdict: str
    checks: list[CheckRow]

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.status == status)


def check_rows(requirement: reqs.Requirement, results: dict[str, Result]) -> list[CheckRow]:
    """One row per test the requirement names that has a result; its pattern where none has."""
    rows: list[CheckRow] = []
    seen: set[str] = set()
    for check in requirement.checks:
        found = sorted(n for n in results if reqs.matches(check, n))
        if not found:
            rows.append(CheckRow(check, NOT_RAN))
        for nodeid in found:
            if nodeid not in seen:
                seen.add(nodeid)
                result = results[nodeid]
                rows.append(CheckRow(nodeid, result.status, result.message, result.duration, result.evidence))
    return rows


def verdict_of(statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    if any(s in (FAILED, ERROR) for s in statuses):
        return FAILED_VERDICT
    if statuses and all(s == PASSED for s in statuses):
        return PROVED
    if any(s == PASSED for s in statuses):
        return INCOMPLETE
    return NOT_RUN


def verdicts(requirements: list[reqs.Requirement], results: dict[str, Result]) -> list[Verdict]:
    out = []
    for requirement in requirements:
        rows = check_rows(requirement, results)
        out.append(Verdict(requirement, verdict_of(r.status for r in rows), rows))
    return out


def unplaced_results(requirements: list[reqs.Requirement], results: dict[str, Result]) -> list[str]:
    """Stage tests that ran but that no requirement names (tests/report keeps this empty)."""
    stage_tests = [n for n in sorted(results) if reqs.stage_module(n)]
    return reqs.unplaced(requirements, stage_tests)


# --------------------------------------------------------------------------- the page


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _iso(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def stage_rows(journal: dict[str, Any]) -> list[dict[str, Any]]:
    """The journal's stages for the page: status, when, how long, steps done, the error."""
    rows = []
    for name, record in (journal.get("stages") or {}).items():
        started, ended = _iso(record.get("started")), _iso(record.get("ended"))
        steps = record.get("steps") or {}
        step_rows = []
        for step_name, step in steps.items():
            s0, s1 = _iso(step.get("started")), _iso(step.get("ended"))
            step_rows.append({"name": step_name, "status": step.get("status"),
                              "duration": _seconds((s1 - s0).total_seconds()) if s0 and s1 else "-",
                              "error": redact.redact(str(step.get("error") or ""))})
        rows.append({
            "name": name, "status": record.get("status"),
            "started": started.strftime("%Y-%m-%d %H:%M:%S") if started else "-",
            "duration": _seconds((ended - started).total_seconds()) if started and ended else "-",
            "steps": f"{sum(1 for s in steps.values() if s.get('status') == 'done')}/{len(steps)}",
            "error": redact.redact(str(record.get("error") or "")),
            "step_rows": step_rows,
        })
    return rows


def figure_lines(name: str, figures: dict[str, Any] | None) -> list[str]:
    """What the monitor measured for one kind of figure, in a few sentences."""
    if not figures:
        return ["no workload monitor record for this run (the stages ran with --no-monitor)"]
    if name == "vm_outages":
        vms = figures.get("vms") or {}
        hit = {k: v for k, v in vms.items() if v.get("outages")}
        lines = [f"{len(vms)} VM(s) probed over TCP on their floating IPs; {len(hit)} had an outage"]
        for vm in sorted(hit.values(), key=lambda v: -v["max_s"])[:12]:
            stages = ", ".join(f"{stage} {s['total_s']} s" for stage, s in vm["by_stage"].items() if s["outages"])
            lines.append(f"{vm['name']} ({vm['address']}): {vm['outages']} outage(s), longest {vm['max_s']} s, "
                         f"total {vm['total_s']} s ({stages})")
        return lines
    if name == "api_read":
        read = figures.get("api_read") or {}
        overall = read.get("(all)") or {}
        lines = [f"API reads: {overall.get('answered', 0)} of {overall.get('probes', 0)} answered "
                 f"({overall.get('availability_pct')} %), {overall.get('gaps', 0)} gap(s), longest "
                 f"{overall.get('longest_gap_s', 0)} s"]
        lines += [f"{stage}: {row.get('availability_pct')} % of {row.get('probes')}"
                  for stage, row in (read.get("by_stage") or {}).items() if row.get("probes")]
        return lines
    write = figures.get("api_write") or {}
    if not write.get("probed"):
        return ["API writes were not probed (the monitor runs with --write-probe to measure the write window)"]
    overall = write.get("(all)") or {}
    return [f"API writes: {overall.get('refused', 0)} of {overall.get('probes', 0)} refused; write outage window "
            f"{overall.get('window_s', 0)} s (first refusal {overall.get('first_refusal')}, last "
            f"{overall.get('last_refusal')})"]


@dataclass
class Page:
    """Everything the template shows."""

    title: str
    target: str
    env: int
    seed: Any
    generated: str
    verdicts: list[Verdict]
    stages: list[dict[str, Any]]
    unplaced: list[str]
    figures: dict[str, Any] | None
    monitor_note: str
    timeline_png: bytes | None
    sources: list[str]

    @property
    def totals(self) -> dict[str, int]:
        return {v: sum(1 for x in self.verdicts if x.verdict == v) for v in VERDICTS}

    @property
    def timeline_uri(self) -> str | None:
        if not self.timeline_png:
            return None
        return "data:image/png;base64," + base64.b64encode(self.timeline_png).decode("ascii")


def render(page: Page) -> str:
    """The page as HTML (autoescaped; every text from a run went through redact before)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["seconds"] = _seconds
    env.filters["css"] = lambda status: str(status).replace(" ", "-")
    env.globals["figure_lines"] = lambda name: figure_lines(name, page.figures)
    html = env.get_template("compliance.html.j2").render(page=page, skipped=SKIPPED, not_ran=NOT_RAN)
    return redact.redact(html)


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
