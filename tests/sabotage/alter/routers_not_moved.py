"""Altered action: upgrade-control skips the router moves: every router stays bound to the original's
L3 agents, which are gone with the original's controllers."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_control

    def not_moved(ctx: Any, seeds: list[str]) -> list[dict[str, Any]]:
        return []

    upgrade_control.move_routers = not_moved
