"""Altered action: upgrade-control never leaves the seed's maintenance: its HAProxy keeps refusing
every write with 503 after the computes are in."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_control

    def stays(ctx: Any, seeds: list[str]) -> dict[str, Any]:
        return {}

    upgrade_control.leave_maintenance = stays
