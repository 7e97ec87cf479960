"""Altered action: prepare enables the extensions but journals that it enabled none,
so cleanup-fuel could not revert them (stage 1's revertibility test must notice)."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import prepare

    original = prepare._enable

    def enable_quietly(ctx: Any, env_id: int, before: list[str]) -> list[str]:
        original(ctx, env_id, before)
        return []

    prepare._enable = enable_quietly
