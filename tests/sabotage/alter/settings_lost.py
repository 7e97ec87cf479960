"""Altered action: the clone loses some of the original's settings, as a clone whose transformation
for the new release dropped values would: the seed gets the QEMU hypervisor and another management
VLAN than the original's."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_env

    original = upgrade_env.clone

    def lossy_clone(ctx: Any, env: dict[str, Any]) -> int:
        seed = original(ctx, env)
        attrs = ctx.fuel.env_attributes(seed)
        attrs["editable"]["common"]["libvirt_type"]["value"] = "qemu"
        ctx.fuel.put_env_attributes(seed, attrs)
        networks = ctx.fuel.network_configuration(seed)
        for net in networks["networks"]:
            if net["name"] == "management":
                net["vlan_start"] = (net.get("vlan_start") or 100) + 7
        ctx.fuel._put(f"clusters/{seed}/network_configuration/neutron/", networks)
        return seed

    upgrade_env.clone = lossy_clone
