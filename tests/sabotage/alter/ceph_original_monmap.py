"""Altered action: upgrade-ceph injects the monmap of the original's store (the original monitors'
names) instead of the seed's own map given the original fsid: no seed monitor finds itself in it."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.lib import ceph
    from runbook.procedure import upgrade_ceph

    def original_map(ctx: Any, seed: str, fsid: str, expected: dict[str, str]) -> dict[str, Any]:
        # The store was replaced by the original's: this extracts the original's monmap.
        ceph.extract_monmap(ctx.pool, seed, seed, upgrade_ceph.MONMAP)
        return ceph.print_monmap(ctx.pool, seed, upgrade_ceph.MONMAP)

    upgrade_ceph.monmap_fsid = original_map
