"""Order inside one pytest session: a stage's tests run only when the previous stage's all passed.

Every test of a stage module gets a session-scoped pytest-dependency marker on
every collected test of the stage before it, so after a failed stage the later
stages are skipped, not acted on (the marker is checked before the module's
action fixture is set up). Tests deselected with `-k` are unknown to
pytest-dependency and ignored (`--ignore-unknown-dependency`, forced here), so
`-k stage3` still runs: across sessions the journal enforces the order and
refuses a stage whose predecessor is not done.
"""

from __future__ import annotations

import re

import pytest

_STAGE = re.compile(r"(?:^|/)stage(\d+)_[^/]*\.py::")


def stage_number(nodeid: str) -> int | None:
    found = _STAGE.search(nodeid)
    return int(found.group(1)) if found else None


def pytest_configure(config: pytest.Config) -> None:
    # pytest-dependency reads this option in its own pytest_configure; conftests of the
    # initial directories are configured after the plugins, so patch its module flag too.
    config.option.ignore_unknown_dependency = True
    try:
        import pytest_dependency
    except ImportError:  # pragma: no cover - installed with the test extras
        return
    pytest_dependency._ignore_unknown = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    by_stage: dict[int, list[str]] = {}
    for item in items:
        number = stage_number(item.nodeid)
        if number is not None:
            by_stage.setdefault(number, []).append(item.nodeid)
    ordered = sorted(by_stage)
    previous = {later: by_stage[earlier] for earlier, later in zip(ordered, ordered[1:], strict=False)}
    for item in items:
        number = stage_number(item.nodeid)
        if number is not None:
            item.add_marker(pytest.mark.dependency(depends=previous.get(number, []), scope="session"))
