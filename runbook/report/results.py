"""Each test's latest result and its evidence, from what the runs left in the reports folder.

Sources: the Allure results (`allure-results/*-result.json`, with their attachments: the
evidence), or, when there are none (a run without allure-pytest), the JUnit XML files
(`junit*.xml`: the outcome only). A test may have run several times (`octane`
commands add to the same folder, `octane validate` runs the assertions again): the latest
result that is not a skip counts, so a later validation that skips a superseded moment-in-time
test keeps the pass it had when its stage ran. A skip counts only when the test never ran.

Everything read here passes through `runbook.redact` and is shortened: the report shows
evidence, it does not store logs.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runbook import redact

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
_ALLURE_STATUS = {"passed": PASSED, "failed": FAILED, "broken": ERROR, "skipped": SKIPPED}
EVIDENCE_CHARS = 700  # characters kept per attachment
MESSAGE_CHARS = 900  # characters kept of a failure or skip message
EVIDENCE_PER_TEST = 6  # attachments kept per test


@dataclass(frozen=True)
class Evidence:
    name: str
    text: str


@dataclass
class Result:
    nodeid: str
    status: str  # passed | failed | error | skipped
    message: str = ""
    start: float | None = None  # epoch seconds
    duration: float | None = None  # seconds
    evidence: list[Evidence] = field(default_factory=list)
    source: str = "allure"


def shorten(text: str, limit: int) -> str:
    """`text` redacted and cut to `limit` characters, saying how much was left out."""
    text = redact.redact(text).strip()
    if len(text) <= limit:
        return text
    return f"{text[:limit].rstrip()} … ({len(text) - limit} more characters)"


# --------------------------------------------------------------------------- Allure


def allure_nodeid(result: dict[str, Any]) -> str | None:
    """The pytest node id of an Allure result (`runbook/stages/stage0_preflight.py::test_x[p]`)."""
    name = result.get("name")
    path = result.get("titlePath") or []
    files = [i for i, part in enumerate(path) if str(part).endswith(".py")]
    if name and files:
        at = files[-1]
        return "::".join(["/".join(path[: at + 1]), *path[at + 1:], name])
    full = result.get("fullName") or ""
    module, _, function = full.partition("#")
    if not module or not name or not function:
        return None
    return f"{module.replace('.', '/')}.py::{name}"


def _attachments(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The attachments of a result and of its steps, depth first, in order."""
    yield from node.get("attachments") or []
    for step in node.get("steps") or []:
        yield from _attachments(step)


def _attachment_text(folder: Path, attachment: dict[str, Any]) -> str | None:
    kind = str(attachment.get("type") or "")
    if not (kind.startswith("text/") or kind.endswith("json") or kind.endswith("xml")):
        return None  # an image or a binary file: shown by the Allure report, not here
    try:
        return (folder / str(attachment.get("source"))).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _allure_result(folder: Path, data: dict[str, Any]) -> Result | None:
    nodeid = allure_nodeid(data)
    if nodeid is None:
        return None
    details = data.get("statusDetails") or {}
    start, stop = data.get("start"), data.get("stop")
    evidence = []
    for attachment in _attachments(data):
        text = _attachment_text(folder, attachment)
        if text is not None:
            evidence.append(Evidence(redact.redact(str(attachment.get("name") or "attachment")),
                                     shorten(text, EVIDENCE_CHARS)))
    return Result(nodeid=nodeid, status=_ALLURE_STATUS.get(str(data.get("status")), ERROR),
                  message=shorten(str(details.get("message") or ""), MESSAGE_CHARS),
                  start=start / 1000 if isinstance(start, int | float) else None,
                  duration=(stop - start) / 1000 if isinstance(start, int | float) and isinstance(stop, int | float)
                  else None,
                  evidence=evidence[:EVIDENCE_PER_TEST], source="allure")


def read_allure(folder: Path) -> list[Result]:
    """Every result of an Allure results folder (unreadable files are skipped)."""
    found = []
    for path in sorted(Path(folder).glob("*-result.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        result = _allure_result(folder, data) if isinstance(data, dict) else None
        if result is not None:
            found.append(result)
    return found


# --------------------------------------------------------------------------- JUnit


def epoch(text: str | None) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (JUnit's, the journal's); None when absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def read_junit(path: Path) -> list[Result]:
    """Every test case of a JUnit XML file, as pytest writes it."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return []
    found = []
    for suite in root.iter("testsuite"):
        start = epoch(suite.get("timestamp"))
        for case in suite.iter("testcase"):
            module = case.get("classname", "").replace(".", "/") + ".py"
            outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
            status = PASSED if outcome is None else {"failure": FAILED, "error": ERROR}.get(outcome.tag, SKIPPED)
            message = "" if outcome is None else (outcome.get("message") or outcome.text or "")
            try:
                duration = float(case.get("time", ""))
            except ValueError:
                duration = None
            found.append(Result(nodeid=f"{module}::{case.get('name')}", status=status,
                                message=shorten(message, MESSAGE_CHARS), start=start, duration=duration,
                                source=path.name))
    return found


# --------------------------------------------------------------------------- the latest of each


def latest(results: Iterable[Result]) -> dict[str, Result]:
    """node id -> the result that counts: the latest that is not a skip, else the latest skip."""
    best: dict[str, Result] = {}
    for result in results:
        held = best.get(result.nodeid)
        if held is None or _rank(result) > _rank(held):
            best[result.nodeid] = result
    return best


def _rank(result: Result) -> tuple[bool, float]:
    return (result.status != SKIPPED, result.start if result.start is not None else float("-inf"))


def collect(reports: Path) -> dict[str, Result]:
    """Each test's result from a reports folder: from the Allure results, or from the JUnit XML
    files when there are none (a run without allure-pytest). Never a mix: `make upgrade` cleans
    the Allure results but not the JUnit files of earlier `octane` commands, which may be of
    another run."""
    allure = latest(read_allure(Path(reports) / "allure-results"))
    if allure:
        return allure
    return latest(r for path in sorted(Path(reports).glob("junit*.xml")) for r in read_junit(path))
