"""What a procedure step works with: the target, the env, the journal and the clients.

`Context.facts` caches the Fuel reads a run makes (env, nodes, releases,
attributes) so that a dozen checks cost one request each, not one per check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from runbook.errors import OctaneError, PreflightError

if TYPE_CHECKING:
    from openstack.connection import Connection

    from runbook.config import Target
    from runbook.journal import Journal, Stage
    from runbook.lib.fuel import FuelClient
    from runbook.lib.ssh import SSHPool

log = logging.getLogger(__name__)
T = TypeVar("T")
# Called after each step of a stage with the step's name and result: the stage tests' hooks check or
# sabotage the lab between two steps; the procedures' own callers pass a no-op.
Hook = Callable[[str, Any], Any]


@dataclass
class Context:
    target: Target
    env_id: int
    journal: Journal
    fuel: FuelClient
    pool: SSHPool
    _cloud: Connection | None = field(default=None, repr=False)

    def cloud(self) -> Connection:
        """The original env's OpenStack connection, opened on first use."""
        if self._cloud is None:
            from runbook.lib import cloud

            self._cloud = cloud.from_target(self.target, self.env_id)
        return self._cloud

    @cached_property
    def facts(self) -> Facts:
        return Facts(self)


class Facts:
    """Fuel reads of one run, each made once."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._cache: dict[str, Any] = {}

    def _once(self, key: str, fn: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def envs(self) -> list[dict[str, Any]]:
        return self._once("envs", self.ctx.fuel.envs)

    def env(self) -> dict[str, Any]:
        """The env under upgrade; a wrong id is refused with the list of envs."""
        found = [e for e in self.envs() if e["id"] == self.ctx.env_id]
        if not found:
            listed = ", ".join(f"{e['id']} ({e.get('name')}, {e.get('fuel_version')}, {e.get('status')})"
                               for e in self.envs()) or "none"
            raise PreflightError(f"env {self.ctx.env_id} does not exist on the Fuel master (envs: {listed})",
                                 "pass the id of the env to upgrade with --env or `env` in the target")
        return found[0]

    def releases(self) -> list[dict[str, Any]]:
        return self._once("releases", self.ctx.fuel.releases)

    def nodes(self) -> list[dict[str, Any]]:
        """Every node of the master (free ones included)."""
        return self._once("nodes", self.ctx.fuel.nodes)

    def env_nodes(self) -> list[dict[str, Any]]:
        env_id = self.env()["id"]
        return [n for n in self.nodes() if n.get("cluster") == env_id]

    def controllers(self) -> list[str]:
        """Hostnames of the env's controllers, sorted; refused when there is none."""
        names = sorted((n["hostname"] for n in self.env_nodes() if "controller" in (n.get("roles") or [])),
                       key=lambda h: (len(h), h))
        if not names:
            raise PreflightError(f"env {self.ctx.env_id} has no deployed controller",
                                 "deploy the env's controllers before upgrading it")
        return names

    def attributes(self) -> dict[str, Any]:
        return self._once("attributes", lambda: self.ctx.fuel.env_attributes(self.env()["id"])).get("editable", {})


def raise_fan_out(errors: dict[str, BaseException], what: str, error: type[OctaneError], fix: str) -> None:
    """A fan-out's failures as one error: a single node's own OctaneError as it is (its message and
    fix are the most precise), several as `error` naming each node."""
    if not errors:
        return
    first = next(iter(errors.values()))
    if len(errors) == 1 and isinstance(first, OctaneError):
        raise first
    raise error(f"{what} failed on " + "; ".join(f"{n}: {e}" for n, e in sorted(errors.items())), fix)


def run_step(stage: Stage, hook: Hook, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn` as step `name` of `stage` (a step done in an earlier run returns its recorded result
    without acting), log how long it took, then show it to the hook."""
    started = time.monotonic()
    result = stage.call(name, fn, *args, **kwargs)
    log.info("%s env %s: %s (%.1f s)", stage.name, stage.journal.env_id, name, time.monotonic() - started)
    hook(name, result)
    return result
