"""Altered action: upgrade-control never pins the compute RPC (neither on the seed controllers nor on
the computes) and leaves the computes' nova-compute and OVS agent on Juno: under the seed's Kilo
conductors they cannot report in."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_control

    def no_pin(ctx: Any, seeds: list[str]) -> dict[str, Any]:
        return {}

    def juno_kept(ctx: Any, node: str, line: str) -> dict[str, Any]:
        return {}

    def rabbit_only(ctx: Any, node: str, seeds: list[str]) -> dict[str, Any]:
        rabbit = {"DEFAULT": upgrade_control.seed_rabbit(ctx, seeds[0])}
        return {"nova.conf changed": upgrade_control.set_conf(ctx, node, upgrade_control.NOVA_CONF, rabbit)}

    upgrade_control.pin_seed = no_pin
    upgrade_control.upgrade_packages = juno_kept
    upgrade_control.configure_compute = rabbit_only
