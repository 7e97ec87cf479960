"""The upgrade path 6.1 (Juno, 2014.2.2-6.1) -> 7.0 (Kilo, 2015.1.0-7.0): its preflight checks and
the schema versions the seed's databases must reach."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbook.errors import PreflightError
from runbook.plugins import CheckSpec, hookimpl

if TYPE_CHECKING:
    from runbook.procedure.context import Context

FROM_VERSION = "2014.2.2-6.1"
TO_VERSION = "2015.1.0-7.0"
MASTER_RELEASE = "7.0"
# Kilo's schema heads (2015.1): sqlalchemy-migrate versions, and neutron's alembic release mark.
KILO_SCHEMA: dict[str, int | str] = {"nova": 280, "keystone": 67, "cinder": 40, "glance": 41, "heat": 62,
                                     "neutron": "kilo"}


def _release(ctx: Context, version: str) -> dict[str, Any] | None:
    found = [r for r in ctx.facts.releases() if r.get("version") == version]
    return found[0] if found else None


def release_pair(ctx: Context) -> dict[str, Any]:
    old, new = _release(ctx, FROM_VERSION), _release(ctx, TO_VERSION)
    have = ", ".join(f"{r['id']}:{r.get('version')}" for r in ctx.facts.releases())
    if old is None or new is None:
        missing = FROM_VERSION if old is None else TO_VERSION
        raise PreflightError(f"the Fuel master has no release {missing} (it has: {have})",
                             "upgrade the master to 7.0 with the 6.1 release kept, then re-run")
    if not new.get("is_deployable"):
        raise PreflightError(f"release {new['id']} ({TO_VERSION}) is not deployable (state {new.get('state')})",
                             "install the 7.0 release's repositories and bootstrap on the master")
    if (old.get("operating_system") or "").lower() != (new.get("operating_system") or "").lower():
        raise PreflightError(f"{FROM_VERSION} runs {old.get('operating_system')} but {TO_VERSION} runs "
                             f"{new.get('operating_system')}", "use the 7.0 release of the same OS")
    return {"from": {k: old.get(k) for k in ("id", "version", "operating_system", "state")},
            "to": {k: new.get(k) for k in ("id", "version", "operating_system", "state", "is_deployable")}}


def master_version(ctx: Context) -> dict[str, Any]:
    version = ctx.fuel.master_version()
    if str(version.get("release")) != MASTER_RELEASE:
        raise PreflightError(f"the Fuel master is {version.get('release')}, not {MASTER_RELEASE}",
                             "upgrade the Fuel master to 7.0 (fuel upgrade) before upgrading envs")
    return {k: version.get(k) for k in ("release", "openstack_version", "build_number")}


def env_release(ctx: Context) -> dict[str, Any]:
    env = ctx.facts.env()
    release = next((r for r in ctx.facts.releases() if r["id"] == env.get("release_id")), None)
    version = (release or {}).get("version")
    if version == TO_VERSION:
        raise PreflightError(f"env {env['id']} ({env.get('name')}) is already on {TO_VERSION}: it looks like "
                             "an upgrade seed, not the original",
                             "pass the id of the original 6.1 env (--env or `env` in the target)")
    if version != FROM_VERSION:
        raise PreflightError(f"env {env['id']} runs release {version}, not {FROM_VERSION}",
                             "only 6.1 envs can take this upgrade path")
    return {"release_id": env.get("release_id"), "version": version, "fuel_version": env.get("fuel_version")}


def not_in_upgrade(ctx: Context) -> dict[str, Any]:
    """Nailgun keeps the orig/seed relation to itself: a seed shows as a 7.0 env named after the
    original (octane names it `<name>-upgrade`/`upgrade-<id>`), or as a pending release."""
    env = ctx.facts.env()
    new = _release(ctx, TO_VERSION)
    names = {env.get("name", ""), f"upgrade-{env['id']}", f"seed-{env['id']}"}
    seeds = [e for e in ctx.facts.envs() if e["id"] != env["id"] and new is not None
             and e.get("release_id") == new["id"] and any(n and n in e.get("name", "") for n in names)]
    if env.get("pending_release_id") or seeds:
        found = ", ".join(f"{e['id']} ({e['name']})" for e in seeds) or f"pending release {env['pending_release_id']}"
        raise PreflightError(f"env {env['id']} is already being upgraded: seed env {found}",
                             "continue that upgrade (octane status) or delete the seed env before starting again")
    return {"other_envs": [f"{e['id']} {e['name']} release {e.get('release_id')}" for e in ctx.facts.envs()
                           if e["id"] != env["id"]]}


@hookimpl
def preflight_checks() -> list[CheckSpec]:
    return [
        CheckSpec("release_pair", release_pair, f"releases {FROM_VERSION} and {TO_VERSION} (deployable)"),
        CheckSpec("master_version", master_version, f"the Fuel master is {MASTER_RELEASE}"),
        CheckSpec("env_release", env_release, f"the env runs {FROM_VERSION}"),
        CheckSpec("not_in_upgrade", not_in_upgrade, "no seed env exists for the env"),
    ]


@hookimpl
def schema_versions() -> dict[str, int | str]:
    return dict(KILO_SCHEMA)
