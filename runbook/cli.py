"""`octane`: the upgrade spec's commands on top of the runbook's stages.

    octane [--target PATH] [--reports DIR] prepare [--env ENV]     (preflight, then prepare)
    octane ... upgrade-env ENV [NODE...]
    octane ... upgrade-db SEED | upgrade-ceph SEED | upgrade-control SEED
    octane ... upgrade-node SEED [NODE...]      (default: every compute and OSD node left)
    octane ... cleanup-env SEED | cleanup-fuel [--env ENV]   (stage 7: its env half, then its master half)
    octane ... validate [STAGE] [--env ENV]     (default: every stage that ran)
    octane ... status [--env ENV]
    (and the commands of `runbook.commands`)

Each spec command runs its stage module through pytest (the action, then the
assertions), exactly as `pytest runbook/stages/<module>` does, and writes
JUnit XML and Allure results under the reports folder. Arguments are checked
against the Fuel master and the journal first: a wrong env id, a seed id
where the original is expected (or the reverse) or a node that is not free is
refused with exit code 2 before anything changes.

Exit codes: 0 done and verified; 1 a stage failed (its tests say what, the
journal keeps where it stopped: run the same command again to continue);
2 bad input (nothing was done).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runbook.errors import OctaneError

ROOT = Path(__file__).resolve().parent.parent
STAGES = ROOT / "runbook" / "stages"
DEFAULT_REPORTS = Path("reports")
# spec command -> (stage module stem, what its positional argument is)
# (`prepare` runs the preflight first: it changes nothing, and prepare needs its baseline.)
COMMANDS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "prepare": (("stage0_preflight", "stage1_prepare"), None),
    "upgrade-env": (("stage2_upgrade_env",), "orig"),
    "upgrade-db": (("stage3_upgrade_db",), "seed"),
    "upgrade-ceph": (("stage4_upgrade_ceph",), "seed"),
    "upgrade-control": (("stage5_upgrade_control",), "seed"),
    "upgrade-node": (("stage6_upgrade_nodes",), "seed"),
    "cleanup-env": (("stage7_cleanup",), "seed"),
    "cleanup-fuel": (("stage7_cleanup",), None),
}
# The two spec commands of stage 7 run its two halves (runbook.procedure.cleanup).
CLEANUP_PARTS = {"cleanup-env": "env", "cleanup-fuel": "fuel"}


class UsageError(OctaneError):
    """The command line names something that does not fit: exit 2, nothing done."""


def stage_file(stem: str) -> Path:
    path = STAGES / f"{stem}.py"
    if not path.is_file():
        raise UsageError(f"this octane has no {stem} stage", "update octane to a version that has it")
    return path


def stage_names() -> list[str]:
    return sorted(p.stem for p in STAGES.glob("stage[0-9]_*.py"))


# --------------------------------------------------------------------------- resolving ids


def journals(journal_dir: Path) -> dict[int, dict[str, Any]]:
    """{original env id: its journal's facts} for every journal under the target's journal_dir."""
    found = {}
    for path in sorted(journal_dir.glob("env-*/journal.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found[int(data["env_id"])] = data.get("facts", {})
    return found


def original_of(seed: int, journal_dir: Path, envs: dict[int, dict[str, Any]]) -> int:
    """The original env whose journal recorded `seed` as its seed; refused with the fix otherwise."""
    facts = journals(journal_dir)
    for orig, recorded in facts.items():
        if recorded.get("seed_env_id") == seed:
            return orig
    if seed in facts:
        known = facts[seed].get("seed_env_id")
        hint = f"its seed is env {known}: pass {known}" if known else "run upgrade-env for it first"
        raise UsageError(f"env {seed} is an original env being upgraded, not a seed", hint)
    if seed not in envs:
        raise UsageError(f"env {seed} does not exist on the Fuel master",
                         "pass the seed env's id (octane status shows it)")
    raise UsageError(f"env {seed} is not the seed of any upgrade in {journal_dir}",
                     "pass the seed env id that upgrade-env created (octane status shows it)")


def check_original(env: int, journal_dir: Path, envs: dict[int, dict[str, Any]]) -> None:
    if env not in envs:
        listed = ", ".join(f"{i} ({e.get('name')})" for i, e in sorted(envs.items())) or "none"
        raise UsageError(f"env {env} does not exist on the Fuel master (envs: {listed})",
                         "pass the id of the env to upgrade")
    for orig, facts in journals(journal_dir).items():
        if facts.get("seed_env_id") == env:
            raise UsageError(f"env {env} is the seed of env {orig}'s upgrade, not an original env",
                             f"pass the original env's id ({orig})")


def check_free_nodes(nodes: Sequence[int], fuel_nodes: list[dict[str, Any]]) -> None:
    by_id = {n["id"]: n for n in fuel_nodes}
    bad = []
    for node in nodes:
        found = by_id.get(node)
        if found is None:
            bad.append(f"{node} (no such node)")
        elif found.get("cluster") is not None or found.get("status") != "discover":
            bad.append(f"{node} ({found.get('hostname')}: env {found.get('cluster')}, {found.get('status')})")
    if bad:
        raise UsageError(f"nodes that are not free discovered nodes: {', '.join(bad)}",
                         "name unallocated nodes in Fuel's bootstrap (fuel2 node list), or none to let octane choose")


def check_upgradable_nodes(nodes: Sequence[int], env: int, seed: int, fuel_nodes: list[dict[str, Any]]) -> None:
    """upgrade-node's NODEs: computes or OSD nodes of the original env (or of the seed: already moved)."""
    by_id = {n["id"]: n for n in fuel_nodes}
    bad = []
    for node in nodes:
        found = by_id.get(node)
        roles = set(found.get("roles") or []) | set(found.get("pending_roles") or []) if found else set()
        if found is None:
            bad.append(f"{node} (no such node)")
        elif found.get("cluster") not in (env, seed) or not roles & {"compute", "ceph-osd"}:
            bad.append(f"{node} ({found.get('hostname')}: env {found.get('cluster')}, {', '.join(sorted(roles)) or 'no role'})")
    if bad:
        raise UsageError(f"nodes that are not computes or OSD nodes of env {env}: {', '.join(bad)}",
                         "name compute or ceph-osd nodes of the original env (fuel2 node list), or none for all")


def check_cleanup_env_done(journal: Any) -> None:
    """cleanup-fuel reverts the master last: refused until cleanup-env completed for the env."""
    from runbook.procedure import cleanup

    steps = journal.stage_record(cleanup.STAGE).get("steps", {})
    if steps.get(cleanup.ENV_DONE, {}).get("status") != "done":
        seed = journal.facts().get("seed_env_id", "SEED")
        raise UsageError(f"cleanup-env has not completed for env {journal.env_id}: cleanup-fuel comes after it",
                         f"run `octane cleanup-env {seed}` first")


# --------------------------------------------------------------------------- running


def command_modules() -> list[Any]:
    """The subcommands of `runbook.commands`, in their listed order."""
    import importlib

    from runbook.commands import MODULES

    return [importlib.import_module(f"runbook.commands.{name}") for name in MODULES]


def run_stages(where: Sequence[str], target: Path, env: int, reports: Path, name: str,
               extra: Sequence[str] = ()) -> int:
    """pytest on stage modules (or the stages folder), reports under `reports`; 0 or 1."""
    import pytest

    reports.mkdir(parents=True, exist_ok=True)
    code = pytest.main([*where, "--target", str(target), "--env", str(env), "-p", "no:cacheprovider",
                        f"--rootdir={ROOT}", "-c", str(ROOT / "pytest.ini"), f"--junitxml={reports / f'junit-{name}.xml'}",
                        f"--alluredir={reports / 'allure-results'}", "-q", *extra])
    return 0 if code == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    # python-fuelclient 11 imports pkg_resources, which warns on every start: noise for an operator.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    parser = argparse.ArgumentParser(prog="octane", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", help="target.yaml (default: $OCTANE_TARGET, else the embedded lab in .lab/)")
    parser.add_argument("--reports", type=Path, default=DEFAULT_REPORTS, help="where reports go (default: reports/)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("prepare", help="prepare the Fuel master for the env's upgrade (stage 1)")
    p.add_argument("--env", type=int, help="the original env (default: `env` in the target)")
    p = sub.add_parser("upgrade-env", help="clone the env to a 7.0 seed and deploy its controllers isolated")
    p.add_argument("env", type=int, metavar="ENV")
    p.add_argument("nodes", type=int, nargs="*", metavar="NODE", help="free node ids for the seed's controllers")
    for name, doc in (("upgrade-db", "copy and migrate the databases to the seed (stage 3)"),
                      ("upgrade-ceph", "move the Ceph monitors to the seed (stage 4)"),
                      ("upgrade-control", "switch control to the seed, upgrade the computes in place (stage 5)")):
        sub.add_parser(name, help=doc).add_argument("seed", type=int, metavar="SEED")
    p = sub.add_parser("upgrade-node", help="reinstall computes and OSD nodes into the seed on 7.0 (stage 6)")
    p.add_argument("seed", type=int, metavar="SEED")
    p.add_argument("nodes", type=int, nargs="*", metavar="NODE",
                   help="computes and OSD nodes (Fuel ids) to upgrade now (default: every one left)")
    p = sub.add_parser("cleanup-env", help="remove the original's services, agents and the RPC pin from the seed "
                                           "(stage 7, first half)")
    p.add_argument("seed", type=int, metavar="SEED")
    p = sub.add_parser("cleanup-fuel", help="revert the Fuel master's preparation, keep the dumps (stage 7, end)")
    p.add_argument("--env", type=int, help="the original env (default: `env` in the target)")
    p = sub.add_parser("validate", help="re-run a stage's assertions (or every stage's) without acting")
    p.add_argument("stage", nargs="?", choices=stage_names(), metavar="STAGE")
    p.add_argument("--env", type=int)
    for module in command_modules():
        module.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        return dispatch(args)
    except UsageError as exc:
        print(f"octane: {exc}", file=sys.stderr)
        return 2
    except OctaneError as exc:
        print(f"octane: {exc}", file=sys.stderr)
        return 1


def dispatch(args: argparse.Namespace) -> int:
    from runbook.config import load_target
    from runbook.journal import Journal
    from runbook.lib.fuel import FuelClient

    target_path = Path(args.target) if args.target else None
    target = load_target(target_path)
    target_file = target.path
    if getattr(args, "handler", None):
        return args.handler(args, target)
    fuel = FuelClient.from_target(target)
    envs = {e["id"]: e for e in fuel.envs()}
    if args.command == "validate":
        env = args.env or target.env
        check_original(env, target.journal_dir, envs)
        if args.stage:
            ran = [args.stage]
        else:  # every stage that ran for this env, in order
            journal = Journal.open(target.journal_dir, env)
            ran = [name for name in stage_names() if journal.stage_status(name) != "pending"]
            if not ran:
                raise UsageError(f"no stage has run for env {env}: there is nothing to validate",
                                 "start with `octane prepare`")
        where = [str(stage_file(name)) for name in ran]
        return run_stages(where, target_file, env, args.reports, "validate", ["--validate-only"])
    stages, kind = COMMANDS[args.command]
    extra: list[str] = []
    if kind == "seed":
        env = original_of(args.seed, target.journal_dir, envs)
        if getattr(args, "nodes", None):
            check_upgradable_nodes(args.nodes, env, args.seed, fuel.nodes())
            extra = ["--upgrade-nodes", ",".join(str(n) for n in args.nodes)]
    elif kind == "orig":
        env = args.env
        check_original(env, target.journal_dir, envs)
        if args.nodes:
            check_free_nodes(args.nodes, fuel.nodes())
            extra = ["--seed-nodes", ",".join(str(n) for n in args.nodes)]
    else:
        env = args.env or target.env
        check_original(env, target.journal_dir, envs)
    if args.command in CLEANUP_PARTS:
        if args.command == "cleanup-fuel":
            check_cleanup_env_done(Journal.open(target.journal_dir, env))
        extra = ["--cleanup-part", CLEANUP_PARTS[args.command]]
    return run_stages([str(stage_file(s)) for s in stages], target_file, env, args.reports, args.command, extra)


if __name__ == "__main__":
    # `python -m runbook.cli`: run the importable module's main, so that the UsageError the subcommands
    # (runbook.commands) import from runbook.cli is the class main catches (exit 2), not a __main__ twin.
    from runbook.cli import main as _main

    sys.exit(_main())
