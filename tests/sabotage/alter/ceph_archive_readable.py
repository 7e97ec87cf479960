"""Altered action: upgrade-ceph fetches the original's Ceph archive (every key of the cluster) into
the workspace as a plain world-readable file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_ceph

    def fetch_readable(ctx: Any, node: str, remote: str, local: Path) -> None:
        ctx.pool.get(node, remote, str(local))
        os.chmod(local, 0o644)

    upgrade_ceph.fetch_private = fetch_readable
