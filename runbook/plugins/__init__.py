"""Upgrade paths and architecture options as pluggy plugins.

Each plugin contributes preflight checks through the `preflight_checks` hook:
the 6.1 -> 7.0 path (release pair, master version, env release, no upgrade
under way), Ceph storage and Neutron VLAN. The upgrade path also says which
schema version each service database must have after `db sync`
(`schema_versions`). A site with another path or
architecture registers its own plugin instead of editing the procedure.

The hook takes no argument (deviation from `preflight_checks(ctx)`): the check
names must be known at test collection time, before any target is loaded, so
the stage can give every check its own test; the check functions get the
context when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from runbook.procedure.context import Context

PROJECT = "octane"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class CheckSpec:
    """One precondition: `fn(ctx)` returns its evidence or raises PreflightError."""

    name: str
    fn: Callable[[Context], Any]
    doc: str


class PreflightSpec:
    @hookspec
    def preflight_checks(self) -> list[CheckSpec]:
        """The preflight checks this plugin contributes."""

    @hookspec(firstresult=True)
    def schema_versions(self) -> dict[str, int | str] | None:
        """The upgrade path's target schema version per service database (upgrade-db checks them)."""


def manager() -> pluggy.PluginManager:
    """A plugin manager holding the default plugins (6.1 -> 7.0, Ceph, Neutron VLAN)."""
    from runbook.plugins import ceph, neutron_vlan, path_61_70

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(PreflightSpec)
    for module in (path_61_70, ceph, neutron_vlan):
        pm.register(module)
    return pm
