"""Altered action: upgrade-control neither binds the routers to the seed's L3 agents before the cut nor
moves them after it: every router stays bound to the original's L3 agents, which are gone with the
original's controllers."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_control

    def not_moved(ctx: Any, seeds: list[str], *rest: Any) -> list[dict[str, Any]]:
        return []

    upgrade_control.bind_routers = not_moved
    upgrade_control.move_routers = not_moved
