"""`octane status [--env ENV]`: the journal as a table."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("status", help="the journal as a table")
    p.add_argument("--env", type=int)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, target: Any) -> int:
    from runbook.journal import Journal

    print(Journal.open(target.journal_dir, args.env or target.env).render_status())
    return 0
