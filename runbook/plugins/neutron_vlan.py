"""Architecture option: Neutron with VLAN segmentation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbook.errors import PreflightError
from runbook.plugins import CheckSpec, hookimpl

if TYPE_CHECKING:
    from runbook.procedure.context import Context


def neutron_vlan(ctx: Context) -> dict[str, Any]:
    env = ctx.facts.env()
    provider, segment = env.get("net_provider"), env.get("net_segment_type")
    if provider != "neutron" or segment != "vlan":
        raise PreflightError(f"env {env['id']} uses {provider}/{segment}, not neutron/vlan",
                             "this procedure upgrades Neutron VLAN envs only")
    params = ctx.fuel.network_configuration(env["id"]).get("networking_parameters", {})
    if params.get("segmentation_type") != "vlan":
        raise PreflightError(f"env {env['id']}'s network configuration has segmentation "
                             f"{params.get('segmentation_type')}, not vlan", "check the env's network settings")
    return {"net_provider": provider, "segmentation": segment, "vlan_range": params.get("vlan_range")}


@hookimpl
def preflight_checks() -> list[CheckSpec]:
    return [CheckSpec("neutron_vlan", neutron_vlan, "Neutron with VLAN segmentation")]
