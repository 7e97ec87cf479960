"""Altered action: upgrade-control plugs the seed in without stopping or unplugging the original, the
switch-over the causal rules warn of: two clusters claim the VIPs and the controller addresses."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_control

    def left_running(ctx: Any, originals: list[str]) -> dict[str, Any]:
        return {}

    upgrade_control.kill_original = left_running
    upgrade_control.unplug_original = left_running
