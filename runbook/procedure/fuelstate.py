"""An env as Fuel describes it, reduced to what an upgrade must preserve and compares with `==`.

Used by preflight (the baseline's `fuel` section), by the stages that must
leave the original env untouched, and to compare a seed env's settings with
the original's. Password-type settings are never kept (the baseline is a file
an auditor may read): only the fact that one is set.
"""

from __future__ import annotations

from typing import Any

from runbook.lib.fuel import FuelClient

ENV_FIELDS = ("id", "name", "status", "mode", "release_id", "net_provider", "net_segment_type")
NODE_FIELDS = ("id", "hostname", "cluster", "roles", "pending_roles", "status", "online",
               "pending_addition", "pending_deletion")
NETWORK_FIELDS = ("name", "cidr", "vlan_start", "gateway", "ip_ranges")
HIDDEN = "<password set>"


def attribute_values(attributes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{section: {setting: value}} of an env's editable attributes, passwords hidden."""
    editable = attributes.get("editable", attributes)
    out: dict[str, dict[str, Any]] = {}
    for section, settings in editable.items():
        if not isinstance(settings, dict):
            continue
        for key, setting in settings.items():
            if key == "metadata" or not isinstance(setting, dict) or "value" not in setting:
                continue
            value = setting["value"]
            if setting.get("type") == "password":
                value = HIDDEN if value else ""
            out.setdefault(section, {})[key] = value
    return out


def addressing(network_configuration: dict[str, Any]) -> dict[str, Any]:
    """The addressing of an env: networks by name, networking parameters, VIPs."""
    return {
        "networks": {n["name"]: {k: n.get(k) for k in NETWORK_FIELDS}
                     for n in network_configuration.get("networks", [])},
        "parameters": network_configuration.get("networking_parameters", {}),
        "vips": {k: v for k, v in network_configuration.items() if k.endswith("_vip")},
    }


def env_state(fuel: FuelClient, env_id: int) -> dict[str, Any]:
    """The env, its nodes, its settings and its addressing, as Fuel shows them now."""
    env = fuel.env(env_id)
    nodes = sorted(fuel.nodes(env_id), key=lambda n: n["id"])
    return {
        "env": {k: env.get(k) for k in ENV_FIELDS},
        "nodes": [{k: n.get(k) for k in NODE_FIELDS} for n in nodes],
        "attributes": attribute_values(fuel.env_attributes(env_id)),
        "network": addressing(fuel.network_configuration(env_id)),
    }


def differences(before: dict[str, Any], after: dict[str, Any], path: str = "") -> list[str]:
    """Human-readable differences between two plain-data trees (for failure messages)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in after:
                out.append(f"{where}: gone (was {before[key]!r})")
            elif key not in before:
                out.append(f"{where}: new ({after[key]!r})")
            else:
                out.extend(differences(before[key], after[key], where))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after) \
            and all(isinstance(x, dict) for x in before + after):
        return [d for i, (b, a) in enumerate(zip(before, after, strict=True))
                for d in differences(b, a, f"{path}[{i}]")]
    return [] if before == after else [f"{path or 'value'}: {before!r} -> {after!r}"]
