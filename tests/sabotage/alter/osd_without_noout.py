"""Altered action: upgrade-node takes OSD nodes down without `ceph osd set noout` (it still waits for a
healthy cluster first): down past mon_osd_down_out_interval, their OSDs are marked out and backfill
starts, then the data moves back when they return."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_node

    def health_only(ctx: Any, node: str) -> dict[str, Any]:
        state = upgrade_node.ceph_problems(ctx)
        assert not state["problems"], state["problems"]
        return state

    upgrade_node.noout = health_only
