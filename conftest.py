"""Root conftest: makes the repository importable for tests, and registers the runbook's fixtures.

The runbook fixtures are lazy and these options have defaults, so the project's
own tests (tests/) are unaffected by them. The options are declared here, not in
runbook.fixtures: pytest calls this hook before it imports `pytest_plugins`.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["runbook.fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("octane", "octane runbook")
    group.addoption("--target", default=None, metavar="PATH",
                    help="target.yaml (default: $OCTANE_TARGET, else the embedded lab in .lab/)")
    group.addoption("--env", type=int, default=None, metavar="ID",
                    help="the original env's id (default: `env` in the target)")
    group.addoption("--seed-nodes", default=None, metavar="ID,ID,...",
                    help="stage2: the free nodes to deploy as the seed's controllers (default: octane chooses)")
    group.addoption("--upgrade-nodes", default=None, metavar="ID,ID,...",
                    help="stage6: the computes and OSD nodes to upgrade now (default: every one left)")
    group.addoption("--cleanup-part", choices=("env", "fuel", "all"), default="all",
                    help="stage7: cleanup-env, cleanup-fuel or both (default: all)")
    group.addoption("--validate-only", action="store_true", default=False,
                    help="run the stages' assertions without acting (results read from the journal)")
    group.addoption("--no-monitor", action="store_true", default=_flag("OCTANE_NO_MONITOR"),
                    help="do not start the workload monitor (runbook.monitor) before the stages act "
                         "(default: $OCTANE_NO_MONITOR)")


def _flag(name: str) -> bool:
    """An environment variable as a yes/no default: set, non-empty and not 0/no/false/off."""
    import os

    return os.environ.get(name, "").strip().lower() not in ("", "0", "no", "false", "off")
