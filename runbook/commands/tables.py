"""Tables of `octane plan` and `octane status` (rich), readable on a terminal and in a CI log.

Not a subcommand (it is not in `MODULES`). On a terminal rich uses colour and
the terminal's width; elsewhere (a pipe, a CI log) no colour or cursor codes,
and a width of at least PIPE_WIDTH, so that node lists do not wrap into a ribbon.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from runbook.lib.waits import duration

PIPE_WIDTH = 140  # columns at least when stdout is not a terminal (COLUMNS may widen it, not narrow it)


def console(file: TextIO | None = None) -> Console:
    stream = file or sys.stdout
    terminal = stream.isatty()
    columns = os.environ.get("COLUMNS", "")
    width = None if terminal else max(PIPE_WIDTH, int(columns) if columns.isdigit() else 0)
    return Console(file=stream, width=width, highlight=False, soft_wrap=False, emoji=False)


def table(*columns: str, title: str | None = None) -> Table:
    found = Table(*columns, title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, header_style="bold")
    return found


def seconds(value: float | None, estimate: bool = False) -> str:
    if value is None:
        return "-"
    return f"~{duration(value)}" if estimate else duration(value)


def nodes(names: list[str], limit: int = 12) -> str:
    """A node list that stays one line: the first `limit` names and how many more."""
    shown = " ".join(names[:limit])
    return f"{shown} (+{len(names) - limit} more)" if len(names) > limit else shown or "-"


def plan_table(plan: dict[str, Any]) -> Table:
    """One row per stage: command, what it does to which nodes, estimate (or actual when done)."""
    found = table("stage", "command", "nodes and what happens to them", "estimate", "status")
    for row in plan["stages"]:
        touched = "\n".join(f"{nodes(t['nodes'])}: {t['what']}" for t in row["touches"]) or \
            ("(cannot be planned now: see the warnings)" if row["stage"].startswith("stage6") else "-")
        when = (f"done in {seconds(row['actual_s'])}" if row["status"] == "done" and row["actual_s"] is not None
                else row["status"])
        found.add_row(row["stage"], "\n".join(row["commands"]), touched, seconds(row["estimate_s"], True), when)
    return found


def print_plan(out: Console, plan: dict[str, Any], first: dict[str, Any] | None) -> None:
    out.print(f"octane plan of env {plan['env_id']} ({plan['env_name']}): 6.1 -> 7.0, made {plan['made']}")
    if first is not None and first.get("made") != plan["made"]:
        out.print(f"(the first plan, made {first['made']}, is kept in the journal for the comparison: "
                  "octane status)")
    out.print(plan_table(plan))
    out.print(f"API write window (maintenance: reads answered, writes refused), upgrade-db to the end of "
              f"upgrade-control run back to back: {seconds(plan['window_s'], True)}")
    out.print(f"whole upgrade: {seconds(plan['total_s'], True)}; remaining: {seconds(plan['remaining_s'], True)}")
    size = plan.get("db")
    if size:
        out.print(f"databases: {size['bytes'] / 1e6:.1f} MB, ~{size['rows']} rows in {size['tables']} tables "
                  f"({', '.join(size['databases'])}; information_schema on {size['node']})")
    out.print(f"estimates: {plan['basis']}; rates: DB {plan['rates']['db_mb_per_s']:g} MB/s, schema sync "
              f"{duration(plan['rates']['sync_s'])} per service, reinstall {duration(plan['rates']['reinstall_s'])}"
              f", live migration {duration(plan['rates']['migration_s'])} (octane plan --help)")
    out.print(f"stage 6 batches from {plan['stage6']['source']}")
    for warning in plan["warnings"]:
        out.print(f"warning: {warning}")


def comparison_table(found: dict[str, Any]) -> Table:
    """The first plan beside what ran, per stage."""
    rows = table("stage", "planned", "actual", "status", title=f"plan of {found['planned_at']} vs what ran")
    for row in found["stages"]:
        rows.add_row(row["stage"], seconds(row["planned_s"], True), seconds(row["actual_s"]), row["status"])
    return rows


def print_comparison(out: Console, found: dict[str, Any]) -> None:
    out.print(comparison_table(found))
    seeds = found["seed_controllers"]
    if seeds["used"]:
        verdict = "as planned" if seeds["same"] else "NOT as planned"
        out.print(f"seed controllers: planned {nodes(seeds['planned'] or [])}; used {nodes(seeds['used'])} "
                  f"({verdict})")
    ran = found["batches"]
    if ran["ran"]:
        verdict = "as planned" if ran["same"] else "NOT as planned"
        out.print(f"stage 6 batches: planned {_batches(ran['planned'])}; ran {_batches(ran['ran'])} ({verdict})")
    window = found["window"]
    if window["from"]:
        actual = seconds(window["seconds"]) if window["seconds"] is not None else f"open since {window['from']}"
        out.print(f"API write window: planned {seconds(window['planned_s'], True)}; actual {actual}")


def _batches(found: list[list[str]]) -> str:
    return " | ".join(" ".join(b) for b in found) or "-"
