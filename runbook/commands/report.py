"""`octane report [--reports DIR] [--env ENV]`: build the reports of the run (runbook.report.build).

Reads the reports folder (Allure results, JUnit XML), the env's journal and the workload
monitor's record; writes timeline.png, compliance.html and allure-report/index.html there.
Changes nothing in the cloud and never starts a stage. Exit 0 when every report was written,
1 when one could not be (the others are still written; the message says what to do).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="build the HTML reports and the workload timeline from the last runs",
                       description=__doc__.split("\n\n")[1])
    # SUPPRESS: without it this default would overwrite `octane --reports DIR report`.
    p.add_argument("--reports", type=Path, default=argparse.SUPPRESS,
                   help="the reports folder to read and write (default: reports/)")
    p.add_argument("--env", type=int, help="the original env (default: `env` in the target)")
    p.set_defaults(handler=run)


def _size(count: int) -> str:
    return f"{count / 1024:.0f} KiB" if count < 1024 * 1024 else f"{count / 1024 / 1024:.1f} MiB"


def run(args: argparse.Namespace, target: Any) -> int:
    from runbook.report.build import Inputs, build

    started = time.monotonic()
    inputs = Inputs(reports=Path(args.reports), journal_dir=Path(target.journal_dir), env=args.env or target.env,
                    target_name=target.name)
    built = build(inputs, clouds_file=target.clouds.file)
    for artifact in built:
        if artifact.error:
            print(f"octane: {artifact.name} not written: {artifact.error}", file=sys.stderr)
        else:
            print(f"{artifact.name}: {artifact.path} ({_size(artifact.size)}, {artifact.seconds:.1f} s)")
    for junit in sorted(inputs.reports.glob("junit*.xml")):
        print(f"JUnit XML: {junit} ({_size(junit.stat().st_size)})")
    print(f"reports built in {time.monotonic() - started:.1f} s")
    return 1 if any(a.error for a in built) else 0
