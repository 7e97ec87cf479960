"""Under pytest-xdist (`make test` runs `-n 2 --dist loadgroup`), sabotage tests go to workers
in two groups by the stage they start from.

A sabotage test first brings its worker's lab to the checkpoint before its stage, building
the checkpoints 0..N-1 once per worker by running those stages. Spread test by test, each
worker would build nearly every checkpoint; in two groups, the early stages' worker builds
only the early checkpoints, and the late stages' worker pays for the long chain once.
"""

from __future__ import annotations

import pytest

LATE_FROM = 5  # stages from upgrade-control on: their checkpoints need stages 0..4 run first


def _stage(item: pytest.Item) -> int:
    spec = getattr(item, "callspec", None)
    return int(spec.params.get("stage", 0)) if spec else 0


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (its own hook, same phase)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/sabotage/" not in item.nodeid:
            continue
        group = "sabotage-late" if _stage(item) >= LATE_FROM else "sabotage-early"
        item.add_marker(pytest.mark.xdist_group(group))
