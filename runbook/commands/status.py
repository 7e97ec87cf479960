"""`octane status [--env ENV]`: where the env's upgrade stands, and the exact command to run next.

The journal as a table (each stage: status, start, end, duration, steps done,
the failed or running step), each failure with its error and its fix, the next command
(the first spec command whose stages are not all done; after a failure the
same command again, which continues from the failed step, or the command the
failure's fix names, as cleanup-env names cleanup-fuel; "done" once every
stage ran), and the first `octane plan` beside what ran, when there is one.
Reads the journal only: it works while the Fuel master or the cloud does not
answer. Exit code 0; 2 when ENV is a seed env or has no journal.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

FAILED, RUNNING, DONE = "failed", "running", "done"
_COMMAND = re.compile(r"`octane ([a-z][a-z-]*)([^`]*)`")  # a command a stage's fix names


def add_parser(sub: Any) -> None:
    p = sub.add_parser("status", help="the journal as a table, and the command to run next", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", type=int, help="the original env (default: `env` in the target)")
    p.set_defaults(handler=run)


# --------------------------------------------------------------------------- what next (pure)


def next_command(stages: Mapping[str, Mapping[str, Any]], facts: Mapping[str, Any], env: int,
                 commands: Mapping[str, tuple[Sequence[str], str | None]], prefix: str = "octane") -> tuple[str, str]:
    """(the command to run next, why) from the journal's stages and facts, in the spec commands' order.

    `commands` is runbook.cli.COMMANDS: spec command -> (its stage modules, what its argument is)."""
    seed = facts.get("seed_env_id")
    for command, (names, kind) in commands.items():
        states = [stages.get(name, {}).get("status", "pending") for name in names]
        if all(state == DONE for state in states):
            continue
        argument = {"orig": str(env), "seed": str(seed) if seed is not None else "SEED"}.get(kind, f"--env {env}")
        line = f"{prefix} {command} {argument}"
        if FAILED in states:
            failed = names[states.index(FAILED)]
            problem, fix = split_fix(stages[failed].get("error") or "")
            named = _COMMAND.search(fix)
            if named and named.group(1) in commands:  # the stage says which command goes on (e.g. cleanup-fuel)
                return f"{prefix} {named.group(1)}{named.group(2)}", f"{failed}: {problem}"
            return line, f"{failed} failed: run the same command again once its cause is fixed (done steps are " \
                         "not repeated)"
        if RUNNING in states:
            running = names[states.index(RUNNING)]
            return line, f"{running} is running, or its run was interrupted: if no octane runs now, run the same " \
                         "command again"
        return line, ""
    return "done", "every stage of this octane ran for this env"


def failed_step(record: Mapping[str, Any]) -> tuple[str, str]:
    """(the step that failed, its error) of a stage record, else the step running; the stage's own
    error when no step failed."""
    steps = record.get("steps", {})
    for wanted in (FAILED, RUNNING):
        for name, step in steps.items():
            if step.get("status") == wanted:
                return name, step.get("error") or record.get("error") or ""
    return "", record.get("error") or ""


def split_fix(error: str) -> tuple[str, str]:
    """An OctaneError's text is `problem — fix`: the two parts."""
    problem, dash, fix = error.rpartition(" — ")
    return (problem, fix) if dash else (error, "")


def _clock(stamp: str | None, with_date: bool) -> str:
    if not stamp:
        return "-"
    moment = datetime.fromisoformat(stamp)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ" if with_date else "%H:%M:%SZ")


# --------------------------------------------------------------------------- the command


def run(args: argparse.Namespace, target: Any) -> int:
    from runbook.cli import COMMANDS, UsageError, journals
    from runbook.commands import tables
    from runbook.journal import Journal
    from runbook.procedure import plan

    env = args.env or target.env
    for orig, facts in journals(target.journal_dir).items():
        if facts.get("seed_env_id") == env:
            raise UsageError(f"env {env} is the seed of env {orig}'s upgrade", f"run octane status --env {orig}")
    path = Path(target.journal_dir) / f"env-{env}" / "journal.json"
    if not path.is_file():
        raise UsageError(f"no upgrade of env {env} is recorded in {target.journal_dir}",
                         f"start with `octane plan {env}` and `octane prepare --env {env}`")
    data = json.loads(path.read_text())
    journal = Journal.open(target.journal_dir, env)
    out = tables.console()
    out.print(f"upgrade of env {env}: journal {path}"
              + (f"; seed env {data['facts']['seed_env_id']}" if "seed_env_id" in data["facts"] else ""))
    rows = tables.table("stage", "status", "started", "ended", "took", "steps", "failed (or running) step")
    failures = []
    for name, record in data["stages"].items():
        steps = record.get("steps", {}).values()
        step, error = failed_step(record) if record["status"] in (FAILED, RUNNING) else ("", "")
        started, ended = plan.stage_span(record)
        rows.add_row(name, record["status"], _clock(started, True), _clock(ended, False),
                     tables.seconds(plan.stage_seconds(record)),
                     f"{sum(s['status'] == DONE for s in steps)}/{len(steps)}", step or "-")
        if record["status"] == FAILED:
            failures.append((name, step, *split_fix(error)))
    out.print(rows)
    for name, step, problem, fix in failures:
        out.print(f"{name} failed" + (f" at step {step!r}" if step else "") + f": {problem}")
        if fix:
            out.print(f"  fix: {fix}")
    prefix = f"octane --target {args.target}" if args.target else "octane"
    command, why = next_command(data["stages"], data["facts"], env, COMMANDS, prefix)
    out.print(f"next: {command}" + (f"  ({why})" if why else ""))
    first = data["facts"].get(plan.FIRST_FACT)
    if first:
        tables.print_comparison(out, plan.compare(first, journal))
    return 0
