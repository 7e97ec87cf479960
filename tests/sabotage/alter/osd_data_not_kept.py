"""Altered action: upgrade-node reassigns OSD nodes without marking their ceph volumes keep_data: the
reprovision wipes them and the node comes back with new, empty OSDs."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_node

    def nothing_kept(names: list[str], planned: dict[str, Any]) -> dict[int, list[str]]:
        return {}

    upgrade_node.keep = nothing_kept
