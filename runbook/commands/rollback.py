"""`octane rollback SEED [--discard-seed-writes]`: give the upgrade up, the original env back in service.

After upgrade-db, upgrade-ceph or upgrade-control (finished or stopped half-way): the original
controllers serve again (out of maintenance, their cluster and databases as the dump proved them),
the computes back on Juno under them, the seed isolated again; the journal is then ready for
`octane upgrade-db SEED` (runbook.procedure.rollback says what is undone and why).

Refused with exit code 2, before any change: an id that is not a seed env; nothing to roll back;
upgrade-node has acted on a node; writes the seed accepted after upgrade-control, unless
--discard-seed-writes (they are listed). A failure on the way exits 1: run the same command again,
it continues where it stopped.
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("rollback", help="give the upgrade up: the original env back in service, the seed "
                                        "isolated (after upgrade-db, upgrade-ceph or upgrade-control)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("seed", type=int, metavar="SEED", help="the seed env's id (octane status shows it)")
    p.add_argument("--discard-seed-writes", action="store_true",
                   help="lose what tenants wrote through the seed since upgrade-control left maintenance")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, target: Any) -> int:
    from runbook.cli import UsageError, original_of
    from runbook.journal import Journal
    from runbook.lib.fuel import FuelClient
    from runbook.lib.ssh import SSHPool
    from runbook.procedure import rollback
    from runbook.procedure.context import Context

    fuel = FuelClient.from_target(target)
    env = original_of(args.seed, target.journal_dir, {e["id"]: e for e in fuel.envs()})
    started = time.monotonic()
    last = [started]

    def progress(name: str, result: Any) -> None:
        now = time.monotonic()
        print(f"rollback env {env}: {name} ({now - last[0]:.1f} s)", flush=True)
        last[0] = now

    with SSHPool(target) as pool:
        ctx = Context(target=target, env_id=env, journal=Journal.open(target.journal_dir, env), fuel=fuel, pool=pool)
        try:
            done = rollback.run(ctx, discard_seed_writes=args.discard_seed_writes, step_hook=progress)
        except rollback.RollbackRefused as exc:
            raise UsageError(exc.message, exc.fix) from None
    print(f"env {env} rolled back in {time.monotonic() - started:.1f} s: undone {', '.join(done['undone'])}; "
          f"{done['vms']} VMs answer; seed writes discarded: {done['seed writes discarded'] or 'none'}")
    print(f"journal reset: {', '.join(done['reset'])}. To upgrade again: {done['next']}")
    return 0
