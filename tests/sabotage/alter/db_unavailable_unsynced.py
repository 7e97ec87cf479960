"""Altered action: upgrade-db's maintenance refuses every method (the original tooling's `use_backend
maintenance if TRUE`: "unavailable", not read-only), and the seed's databases are never synced
(each `db sync` step only reads the version)."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.lib import db, haproxy
    from runbook.procedure import upgrade_db

    haproxy.RULE = f"  use_backend maintenance if TRUE  {haproxy.MARK}"

    def no_sync(ctx: Any, node: str, service: str) -> int | str:
        return db.schema_version(ctx.pool, node, service)

    upgrade_db.sync = no_sync
