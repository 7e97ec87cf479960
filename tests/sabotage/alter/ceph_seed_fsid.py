"""Altered action: upgrade-ceph moves the original's store and keys but never sets the original fsid,
neither in the seed controllers' ceph.conf nor in the monmap it injects: the seed keeps its own."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.lib import ceph
    from runbook.procedure import upgrade_ceph

    def conf_kept(ctx: Any, seed: str, fsid: str) -> dict[str, Any]:
        return {"kept": ceph.conf_fsid(ctx.pool, seed)}

    def monmap_kept(ctx: Any, seed: str, fsid: str, expected: dict[str, str]) -> dict[str, Any]:
        return ceph.print_monmap(ctx.pool, seed, upgrade_ceph.MONMAP)

    upgrade_ceph.set_conf_fsid = conf_kept
    upgrade_ceph.monmap_fsid = monmap_kept
