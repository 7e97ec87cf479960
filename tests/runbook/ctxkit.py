"""A procedure Context on a test lab, built the way the stages' fixtures build it."""

from __future__ import annotations

from pathlib import Path

from runbook.config import load_target
from runbook.journal import Journal
from runbook.lib.fuel import FuelClient
from runbook.lib.ssh import SSHPool
from runbook.procedure.context import Context


def make_ctx(lab_dir: Path, env_id: int | None = None) -> Context:
    target = load_target(lab_dir / "target.yaml")
    env = target.env if env_id is None else env_id
    return Context(target=target, env_id=env, journal=Journal.open(target.journal_dir, env),
                   fuel=FuelClient.from_target(target), pool=SSHPool(target, connect_timeout=5, command_timeout=30))
