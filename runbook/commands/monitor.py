"""`octane monitor start|stop|report [--env ENV]`: the workload monitor (runbook.monitor), by name.

The same monitor the stages start before they act (`python -m runbook.monitor`):
`start` runs it detached (nothing happens when it runs already), `stop` ends it
(it writes its last records first), `report` prints its figures per VM, API and
stage and writes them as JSON (`--json PATH`, default figures.json beside its
records). Exit codes: 0 done, 1 the monitor failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("monitor", help="start, stop or report the workload monitor (VM reachability, API "
                                       "availability, by stage)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("start", "stop", "report"))
    p.add_argument("--env", type=int, help="the original env (default: `env` in the target)")
    p.add_argument("--write-probe", action="store_true",
                   help="start: also probe API writes (each leaves nothing behind)")
    p.add_argument("--json", type=Path, default=None, help="report: where to write the figures")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, target: Any) -> int:
    from runbook import monitor

    env = args.env or target.env
    if args.action == "start":
        settings = monitor.Settings(write_probe=True) if args.write_probe else None
        print(monitor.start(target, env, settings).describe())
    elif args.action == "stop":
        print(monitor.stop(target, env))
    else:
        _, text = monitor.report(target, env, args.json)
        print(text)
    return 0
