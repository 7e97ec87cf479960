"""`octane plan ENV`: the ordered steps of the env's whole upgrade, its node batches and expected
maintenance window, stored in the journal; reads the cloud, changes nothing. How the durations are
estimated, and the limits of that, is said in runbook/procedure/plan.py."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

JOURNAL_WAIT = 5.0  # seconds to wait for the journal's lock (a running stage holds it)
HELP = {
    "db_mb_per_s": "MB/s of database data through a dump or a restore",
    "sync_s": "seconds per service's schema migration",
    "reinstall_s": "seconds for a provisioning + deployment (nodes of one task in parallel)",
    "migration_s": "seconds per live migration",
    "scale": "multiplies every assumed figure (e.g. 0.001 for the embedded lab) until stages done calibrate it",
}


def add_parser(sub: Any) -> None:
    from runbook.procedure.plan import Rates

    p = sub.add_parser("plan", help="what the upgrade of ENV will do, in order, with node batches and the "
                                    "maintenance window (reads only)",
                       description=__doc__)
    p.add_argument("env", type=int, metavar="ENV", help="the original env's id")
    defaults = Rates()
    for field in fields(Rates):
        if field.name in HELP:
            p.add_argument(f"--{field.name.replace('_', '-')}", type=float, default=getattr(defaults, field.name),
                           metavar="N", help=f"{HELP[field.name]} (default: %(default)g)")
    p.set_defaults(handler=run)


def rates_of(args: argparse.Namespace) -> Any:
    from runbook.cli import UsageError
    from runbook.procedure.plan import Rates

    given = {name: getattr(args, name) for name in HELP}
    bad = [f"--{k.replace('_', '-')} {v:g}" for k, v in given.items() if not v > 0]
    if bad:
        raise UsageError(f"rates must be positive: {', '.join(bad)}", "give numbers greater than 0")
    return Rates(**given)


def run(args: argparse.Namespace, target: Any) -> int:
    from runbook.cli import check_original
    from runbook.commands import tables
    from runbook.errors import JournalError
    from runbook.journal import Journal
    from runbook.lib.fuel import FuelClient
    from runbook.lib.ssh import SSHPool
    from runbook.procedure import plan
    from runbook.procedure.context import Context

    rates = rates_of(args)
    fuel = FuelClient.from_target(target)
    check_original(args.env, target.journal_dir, {e["id"]: e for e in fuel.envs()})
    # A stage holds the journal's lock while it runs: the plan is still shown, journaled only when free.
    journal = Journal.open(target.journal_dir, args.env, lock_timeout=JOURNAL_WAIT)
    with SSHPool(target) as pool:
        made = plan.make(Context(target=target, env_id=args.env, journal=journal, fuel=fuel, pool=pool), rates)
    try:
        first = plan.record(journal, made)
    except JournalError as exc:
        first = None
        made["warnings"].append(f"this plan is not journaled: {exc}")
    tables.print_plan(tables.console(), made, first)
    return 0
