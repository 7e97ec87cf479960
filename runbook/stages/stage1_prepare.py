"""Stage 1, prepare (`octane prepare`): the Fuel master made ready, revertibly; the env untouched.

The action runs `procedure.prepare`; the tests read the master (Nailgun's
extensions, the workspace), the nodes (SSH with pinned host keys) and the env
as Fuel describes it, which must equal the baseline stage 0 took.
"""

from __future__ import annotations

import os
import stat
from typing import Any

import pytest

from runbook.fixtures import action
from runbook.procedure import fuelstate, prepare
from runbook.report import evidence

_suite = evidence.suite(prepare.STAGE)


@pytest.fixture(scope="module", autouse=True)
def prepare_action(ctx, validate_only) -> None:  # noqa: ANN001 - fixtures
    action.perform(ctx, validate_only, prepare.STAGE, prepare.run)


@_suite
def test_completed(ctx) -> None:  # noqa: ANN001
    action.assert_completed(ctx, prepare.STAGE)


@_suite
@pytest.mark.superseded_by("stage7_cleanup")  # cleanup-fuel reverts it
def test_cluster_upgrade_extension_enabled(ctx) -> None:  # noqa: ANN001
    enabled = ctx.fuel.env_extensions(ctx.env_id)
    evidence.attach("extensions of the env", enabled)
    assert set(prepare.EXTENSIONS) <= set(enabled), f"env {ctx.env_id} has only {enabled}"


@_suite
@pytest.mark.superseded_by("stage7_cleanup")  # cleanup-fuel reverts it
def test_preparation_is_revertible(ctx) -> None:  # noqa: ANN001
    """What the master has now is what it had plus what prepare journaled it enabled, so
    cleanup-fuel can put it back exactly."""
    record = prepare.recorded(ctx)
    evidence.attach("journaled", record)
    assert set(record) == {prepare.EXTENSIONS_BEFORE, prepare.ENABLE}, f"prepare journaled only {record}"
    now = set(ctx.fuel.env_extensions(ctx.env_id))
    assert now == set(record[prepare.EXTENSIONS_BEFORE]) | set(record[prepare.ENABLE]), \
        f"extensions now {sorted(now)}; journaled: {record} — a change prepare did not record cannot be reverted"


@_suite
def test_workspace_private(ctx) -> None:  # noqa: ANN001
    path = ctx.journal.folder / prepare.WORKSPACE
    assert path.is_dir() and not path.is_symlink(), f"{path} is not a folder"
    info = path.stat()
    evidence.attach("workspace", {"path": str(path), "mode": oct(stat.S_IMODE(info.st_mode)), "uid": info.st_uid})
    assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.geteuid()


@_suite
def test_nodes_reachable_with_pinned_host_keys(ctx) -> None:  # noqa: ANN001
    reached = prepare.reach(ctx)  # raises naming each node that does not answer
    evidence.attach("reached", reached)
    assert all(said == node for node, said in reached.items()), f"nodes answering as another host: {reached}"


@_suite
@pytest.mark.superseded_by("stage6_upgrade_nodes")  # its nodes move to the seed
def test_env_unchanged(ctx, baseline: dict[str, Any]) -> None:  # noqa: ANN001
    now = fuelstate.env_state(ctx.fuel, ctx.env_id)
    changed = fuelstate.differences(baseline["fuel"], now)
    evidence.attach("differences from the baseline", changed)
    assert not changed, f"env {ctx.env_id} changed since the baseline: {changed}"
