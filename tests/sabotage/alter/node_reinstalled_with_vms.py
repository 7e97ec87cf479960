"""Altered action: upgrade-node reinstalls computes without draining them: no live migration, no check
that the host is empty. Their VMs die with the reinstall."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_node

    def not_migrated(ctx: Any, step: Any, computes: list[str], shared: bool,
                     planned: Any = None) -> list[dict[str, str]]:
        return []

    def not_checked(ctx: Any, host: str) -> dict[str, Any]:
        return {"host": host}

    upgrade_node.migrate = not_migrated
    upgrade_node.empty = not_checked
