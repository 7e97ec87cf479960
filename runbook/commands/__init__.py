"""`octane` subcommands other than the spec's stage commands, one module each.

Each module has `add_parser(sub)` (registers its argparse subparser and sets
`handler=run` on it) and `run(args, target) -> int` (exit code: 0 done, 1
failed, 2 bad input through `runbook.cli.UsageError`). `runbook.cli` imports
the modules listed in `MODULES`, in that order (the order of `octane --help`).
"""

MODULES = ("plan", "status", "monitor", "report", "rollback")
