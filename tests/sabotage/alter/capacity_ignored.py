"""Altered action: upgrade-node plans with nova's default allocation ratios instead of those the seed
controllers' nova.conf sets: it sends VMs to computes that have no room for them under the scheduler's
own arithmetic, and the live migrations fail (NoValidHost)."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_node

    def defaults(ctx: Any, controller: str) -> dict[str, float]:
        return {"ram_allocation_ratio": 1.5, "cpu_allocation_ratio": 16.0, "disk_allocation_ratio": 1.0,
                "reserved_host_memory_mb": 512.0, "reserved_host_disk_mb": 0.0}

    upgrade_node.allocation = defaults
