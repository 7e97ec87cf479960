"""The upgrade spec's requirements (requirements.yaml) and which stage tests each one names.

A check is a pytest node id (`runbook/stages/stage3_upgrade_db.py::test_no_write_after_dump`).
Two shorthands keep the file readable without making it vague:

- a test named without `[parameters]` covers every parameter set of it
  (`...::test_precondition` names `test_precondition[free_nodes]` and the others);
- `*` matches any text (`runbook/stages/stage*.py::test_completed`).

Nothing else is special: `[` and `]` are literal, so a parameter id is matched as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import ReportError

DEFAULT_FILE = Path(__file__).with_name("requirements.yaml")
FIGURES = ("vm_outages", "api_read", "api_write")  # what runbook.monitor's figures can show


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    source: str
    checks: tuple[str, ...]
    figures: tuple[str, ...] = ()
    also: tuple[str, ...] = field(default=())  # project tests (tests/...) proving what no stage run shows


@cache
def _pattern(check: str) -> re.Pattern[str]:
    """The regular expression of one check (see the module docstring)."""
    body = ".*".join(re.escape(part) for part in check.split("*"))
    if not check.endswith("]") and not check.endswith("*"):
        body += r"(?:\[.*\])?"  # a test named without parameters: all of its parameter sets
    return re.compile(body + r"\Z")


def matches(check: str, nodeid: str) -> bool:
    """Does `check` name the test `nodeid`?"""
    return _pattern(check).match(nodeid) is not None


def named(requirement: Requirement, nodeids: Iterable[str]) -> list[str]:
    """The tests among `nodeids` that the requirement's checks name, in the given order."""
    return [n for n in nodeids if any(matches(c, n) for c in requirement.checks)]


def unplaced(requirements: Iterable[Requirement], nodeids: Iterable[str]) -> list[str]:
    """Tests that no requirement names: each stage test must prove something of the spec."""
    checks = [c for r in requirements for c in r.checks]
    return [n for n in nodeids if not any(matches(c, n) for c in checks)]


def stage_module(check: str) -> str | None:
    """The stage module file a check is about (`stage3_upgrade_db.py`), if it names one."""
    found = re.search(r"(?:^|/)(stage[^/:]*\.py)::", check)
    return found.group(1) if found else None


def load(path: Path = DEFAULT_FILE) -> list[Requirement]:
    """The requirements of a YAML file; refused with the fix when one is malformed."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ReportError(f"requirements file {path} cannot be read: {exc}", "fix its YAML") from None
    rows = (data or {}).get("requirements") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ReportError(f"requirements file {path} has no `requirements` list", "see runbook/report/requirements.yaml")
    found = [_requirement(path, row) for row in rows]
    ids = [r.id for r in found]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ReportError(f"requirements file {path}: ids used twice: {', '.join(twice)}", "give each its own id")
    return found


def _requirement(path: Path, row: Any) -> Requirement:
    if not isinstance(row, dict) or not all(isinstance(row.get(k), str) and row[k] for k in ("id", "title", "source")):
        raise ReportError(f"requirements file {path}: an entry lacks id, title or source: {row!r}",
                          "give every requirement an id, a title and a source")
    checks = row.get("checks")
    if not isinstance(checks, list) or not checks or not all(isinstance(c, str) for c in checks):
        raise ReportError(f"requirements file {path}: {row['id']} names no check",
                          "list the stage tests (pytest node ids) that prove it under `checks`")
    figures = tuple(row.get("figures") or ())
    unknown = sorted(set(figures) - set(FIGURES))
    if unknown:
        raise ReportError(f"requirements file {path}: {row['id']} names unknown figures {unknown}",
                          f"use some of {', '.join(FIGURES)}")
    return Requirement(id=row["id"], title=row["title"], source=row["source"], checks=tuple(checks),
                       figures=figures, also=tuple(row.get("also") or ()))
