"""Stage 0, preflight: the preconditions of the upgrade and the baseline. Nothing is changed.

The action (a module-scoped autouse fixture) runs `procedure.preflight`, which
journals every check with its evidence and, when all pass, writes the
baseline. With --validate-only the action is skipped and the tests read what
the last run recorded. One test per check, then the baseline.
"""

from __future__ import annotations

import logging
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from runbook.errors import PreflightError
from runbook.journal import DONE
from runbook.lib import cloud
from runbook.procedure import preflight
from runbook.report import evidence

log = logging.getLogger(__name__)
CHECKS = [check.name for check in preflight.checks()]
SUITE = "stage0_preflight"
_suite = evidence.suite(SUITE)
_attach = evidence.attach


@pytest.fixture(scope="module", autouse=True)
def preflight_action(ctx, validate_only) -> None:  # noqa: ANN001 - fixtures
    """Run preflight once for the module; a refusal is reported by the failing check tests."""
    if validate_only:
        return
    try:
        preflight.run(ctx, step_hook=evidence.step_hook)
    except PreflightError as exc:
        log.warning("%s", exc)


@pytest.fixture(scope="module")
def results(ctx) -> dict[str, dict[str, Any]]:  # noqa: ANN001
    return preflight.recorded_results(ctx)


def _baseline(ctx) -> dict[str, Any]:  # noqa: ANN001
    status = ctx.journal.stage_status(preflight.STAGE)
    if status != DONE:
        pytest.fail(f"no baseline: preflight is {status} for env {ctx.env_id} (a check refused the env)")
    return preflight.recorded_baseline(ctx)


@_suite
@pytest.mark.parametrize("check", CHECKS)
def test_precondition(check: str, results: dict[str, dict[str, Any]]) -> None:
    assert check in results, f"preflight recorded no result for {check}"
    result = results[check]
    _attach(f"{check} evidence", result)
    assert result["ok"], f"{result['problem']} — fix: {result['fix']}"


@_suite
def test_baseline_file_is_private(ctx) -> None:  # noqa: ANN001
    _baseline(ctx)
    path = Path(ctx.journal.fact(preflight.BASELINE_FACT))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@_suite
def test_baseline_cloud(ctx) -> None:  # noqa: ANN001
    data = _baseline(ctx)
    _attach("baseline sizes", {k: len(v) for k, v in data["cloud"].items()})
    assert set(data["cloud"]) == set(cloud.BASELINE)
    for name in ("servers", "ports", "networks", "subnets", "projects", "users", "flavors", "quotas"):
        assert data["cloud"][name], f"the baseline holds no {name}"
    assert all(s["status"] != "ERROR" for s in data["cloud"]["servers"])


@_suite
def test_baseline_db_rows(ctx) -> None:  # noqa: ANN001
    data = _baseline(ctx)
    _attach("row counts", data["db_rows"])
    assert set(data["db_rows"]) == set(preflight.SERVICES)
    for service, tables in data["db_rows"].items():
        assert tables, f"{service} has no table"
    assert data["db_rows"]["nova"]["instances"] >= len(data["cloud"]["servers"])


@_suite
def test_baseline_ceph(ctx) -> None:  # noqa: ANN001
    ceph = _baseline(ctx)["ceph"]
    _attach("ceph", ceph)
    assert str(uuid.UUID(ceph["fsid"])) == ceph["fsid"]
    assert ceph["osd_ids"] and all(isinstance(i, int) for i in ceph["osd_ids"])
    assert {"images", "volumes", "compute"} <= set(ceph["pool_objects"])


@_suite
def test_baseline_fuel(ctx) -> None:  # noqa: ANN001
    fuel = _baseline(ctx)["fuel"]
    _attach("fuel", fuel)
    assert fuel["env"]["id"] == ctx.env_id and fuel["env"]["status"] == "operational"
    controllers = [n for n in fuel["nodes"] if "controller" in n["roles"]]
    assert len(controllers) == preflight.CONTROLLERS, f"controllers in the baseline: {controllers}"
    assert fuel["attributes"] and fuel["network"]["networks"] and fuel["network"]["vips"]
