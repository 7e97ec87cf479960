"""Stage 1, prepare: make the Fuel master ready for the upgrade of one env, revertibly.

What the master needs, and nothing in the env changes:

- every node the upgrade will touch (the env's nodes and the free nodes that
  become the seed's controllers) answers over SSH with its pinned host key, so
  no later stage discovers an unreachable node half-way;
- a private upgrade workspace on the master (0700, beside the journal) for the
  database dumps, which hold every password of the cloud;
- Nailgun's `cluster_upgrade` extension enabled for the env (clone, assign and
  VIP copy are its calls).

The extensions enabled before prepare are journaled; `revert` (cleanup-fuel)
disables exactly those prepare enabled, so a master that had the extension
already keeps it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runbook.errors import OctaneError
from runbook.procedure import preflight
from runbook.procedure.context import Context

STAGE = "stage1_prepare"
EXTENSIONS = ("cluster_upgrade",)
WORKSPACE = "workspace"
REACH_TIMEOUT = 30.0  # seconds per node: connect (host key verified) and a trivial command
REACH_WORKERS = 32  # connects at once: a connect mostly waits for the network and the node's sshd
EXTENSIONS_BEFORE = "extensions before prepare"
ENABLE = "enable extensions"


class PrepareError(OctaneError):
    """The master cannot be prepared: nothing in the env was changed."""


def workspace(ctx: Context, *, create: bool = False) -> Path:
    """The master's private folder for this env's upgrade files (dumps); refused unless private."""
    path = ctx.journal.folder / WORKSPACE
    if create and not path.exists() and not path.is_symlink():
        path.mkdir(mode=0o700)
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise PrepareError(f"the upgrade workspace {path} does not exist",
                           "run stage1 (octane prepare) first") from None
    if not stat.S_ISDIR(info.st_mode):
        raise PrepareError(f"the upgrade workspace {path} exists but is not a folder",
                           f"move {path} away (it is not octane's), then run prepare again")
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise PrepareError(f"the upgrade workspace {path} is mode {stat.S_IMODE(info.st_mode):o} owned by uid "
                           f"{info.st_uid}: others could read the dumps (they hold the cloud's passwords)",
                           f"chown it to uid {os.geteuid()} and chmod 700 (check who changed it), then re-run")
    return path


def nodes_to_reach(ctx: Context) -> list[str]:
    """The env's nodes and the free discovered nodes the seed will take, by hostname."""
    env_id = ctx.facts.env()["id"]
    names = [n["hostname"] for n in ctx.facts.nodes()
             if n.get("cluster") == env_id or (n.get("cluster") is None and n.get("status") == "discover")]
    return sorted(set(names), key=lambda h: (len(h), h))


def reach(ctx: Context) -> dict[str, str]:
    """Every node answers over SSH with its pinned host key; {node: its hostname as it says}."""
    nodes = nodes_to_reach(ctx)
    # Each node's connect and command have their own timeouts; the fan-out's bound is only a
    # backstop, so it grows with the rounds of workers the nodes need (500 nodes: 16 rounds).
    rounds = -(-len(nodes) // REACH_WORKERS)
    seen = ctx.pool.fan_out(nodes, lambda node: ctx.pool.check(node, "hostname", timeout=REACH_TIMEOUT).stdout.strip(),
                            max_workers=REACH_WORKERS, timeout=REACH_TIMEOUT * 2 * max(1, rounds))
    if seen.errors:
        raise PrepareError("nodes the upgrade needs cannot be reached: " + "; ".join(
            f"{node}: {exc}" for node, exc in sorted(seen.errors.items())),
            "fix SSH to them from the master (network, sshd, known_hosts after a reinstall), then re-run prepare")
    return dict(sorted(seen.results.items()))


def run(ctx: Context, step_hook: Callable[[str, Any], Any] | None = None) -> dict[str, Any]:
    """Prepare the master; {"workspace", "enabled"}. A re-run skips what is done."""
    env_id = ctx.facts.env()["id"]
    hook = step_hook or (lambda name, result: None)
    with ctx.journal.stage(STAGE, inputs={"env_id": env_id}, requires=[preflight.STAGE]) as stage:
        reached = stage.call("reach nodes", reach, ctx)
        hook("reach nodes", reached)
        folder = stage.call("workspace", lambda: str(workspace(ctx, create=True)))
        hook("workspace", folder)
        before = stage.call(EXTENSIONS_BEFORE, ctx.fuel.env_extensions, env_id)
        hook(EXTENSIONS_BEFORE, before)
        enabled = stage.call(ENABLE, _enable, ctx, env_id, before)
        hook(ENABLE, enabled)
        with stage.step("verify") as step:
            if not step.done:
                step.result = verify(ctx)
        hook("verify", step.result)
        return {"workspace": folder, "enabled": enabled}


def _enable(ctx: Context, env_id: int, before: list[str]) -> list[str]:
    """Enable the extensions the env lacks; the ones this call enabled (what revert disables)."""
    missing = [name for name in EXTENSIONS if name not in before]
    if missing:
        ctx.fuel.enable_extensions(env_id, missing)
    return missing


def verify(ctx: Context) -> dict[str, Any]:
    """The master is prepared: extensions enabled, workspace private."""
    env_id = ctx.facts.env()["id"]
    enabled = ctx.fuel.env_extensions(env_id)
    missing = [name for name in EXTENSIONS if name not in enabled]
    if missing:
        raise PrepareError(f"env {env_id} lacks the Nailgun extension(s) {', '.join(missing)} after enabling them",
                           f"check the master's Nailgun (`fuel2 env extension show {env_id}`), then re-run prepare")
    return {"extensions": enabled, "workspace": str(workspace(ctx))}


def recorded(ctx: Context) -> dict[str, Any]:
    """What prepare recorded: the extensions before and those it enabled ({} when it never ran)."""
    steps = ctx.journal.stage_record(STAGE).get("steps", {})
    return {name: steps[name]["result"] for name in (EXTENSIONS_BEFORE, ENABLE) if name in steps
            and steps[name]["status"] == "done"}


def revert(ctx: Context) -> list[str]:
    """Undo prepare on the master (cleanup-fuel): disable the extensions prepare enabled; those."""
    enabled = recorded(ctx).get(ENABLE, [])
    env_id = ctx.env_id
    if not enabled or not any(e["id"] == env_id for e in ctx.fuel.envs()):
        return enabled
    # Nailgun refuses to disable what is not enabled: a second revert must not fail.
    still = [name for name in enabled if name in ctx.fuel.env_extensions(env_id)]
    if still:
        ctx.fuel.disable_extensions(env_id, still)
    return enabled
