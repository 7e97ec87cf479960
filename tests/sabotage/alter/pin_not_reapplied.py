"""Altered action: upgrade-node does not put the RPC pin back after deploying computes (it only restarts
nova-compute): Fuel's deployment wrote their nova.conf without `[upgrade_levels] compute=juno`."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.lib import upstart
    from runbook.procedure import upgrade_node

    def restart_only(ctx: Any, computes: list[str]) -> dict[str, Any]:
        for host in computes:
            upstart.restart(ctx.pool, host, "nova-compute")
        return {"restarted": computes}

    def pin_not_checked(ctx: Any, names: list[str], computes: list[str], planned: dict[str, Any],
                        moved: list[dict[str, str]]) -> dict[str, Any]:
        return {"nodes": names}

    upgrade_node.pin = restart_only
    upgrade_node.verify_batch = pin_not_checked
