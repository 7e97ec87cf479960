"""Altered action: upgrade-env uploads Nailgun's default deployment info for the seed controllers, so
they are deployed with br-mgmt/br-ex patched to the physical networks (no isolation, no GRE): the
seed's copies of the VIPs and controller addresses go live next to the original's."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_env

    def upload_defaults(ctx: Any, seed_id: int, controllers: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [c["id"] for c in controllers]
        ctx.fuel.upload_deployment_info(seed_id, ctx.fuel.deployment_info_defaults(seed_id, ids))
        return {}

    upgrade_env.upload_isolated = upload_defaults
