"""Altered action: upgrade-env isolates the seed controllers (no patch to the wire) but builds no
GRE overlay between them, so each sits alone on its br-mgmt and no cluster of the seed forms."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_env

    def no_tunnels(controllers: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
        return {c["id"]: [] for c in controllers}

    upgrade_env.tunnels = no_tunnels
