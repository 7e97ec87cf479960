"""Order inside one pytest session: a stage's tests run only when the previous stage's all passed.

Every test of a stage module gets a session-scoped pytest-dependency marker on
every collected test of the stage before it (but its moment-in-time tests, below), so after a failed stage the later
stages are skipped, not acted on (the marker is checked before the module's
action fixture is set up). Tests deselected with `-k` are unknown to
pytest-dependency and ignored (`--ignore-unknown-dependency`, forced here), so
`-k stage3` still runs: across sessions the journal enforces the order and
refuses a stage whose predecessor is not done.

Some assertions describe a moment: "the seed is isolated" holds from stage 2
until stage 5 puts the seed on the wire, by design. Such a test carries
`@pytest.mark.superseded_by("stage5_upgrade_control")`; once the journal shows
that stage has started, the test is skipped with that reason (in a later
validation, or when its own stage is re-run) instead of failing on a state the
upgrade was meant to change. It held when its stage completed: the journal
keeps the evidence.

No pytest-timeout on a stage: its action waits as long as the hardware needs (a seed's deployment
takes most of an hour, stage 6 hours) and each of its remote calls and waits has its own deadline,
so the project's suite-wide guard (pytest.ini) would only kill a real upgrade midway. An operator's
own `--timeout` or PYTEST_TIMEOUT still applies.

The waits' progress lines (runbook.lib.waits: what, on which nodes, how long so
far) are printed as they come, between the test results (`LiveProgress`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re

import pytest

from runbook.lib import waits
from runbook.redact import RedactingFilter

_STAGE = re.compile(r"(?:^|/)stage(\d+)_[^/]*\.py::")


def stage_number(nodeid: str) -> int | None:
    found = _STAGE.search(nodeid)
    return int(found.group(1)) if found else None


class LiveProgress(logging.Handler):
    """The waits' progress lines (runbook.lib.waits) on the terminal as they come, through pytest's
    capture (as its live logging does), redacted; plain lines that stay readable in a CI log."""

    def __init__(self, config: pytest.Config) -> None:
        super().__init__(logging.INFO)
        self.config = config
        self.addFilter(RedactingFilter())
        self.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            if self.config.get_terminal_writer().width_of_current_line:  # after -q's progress dots
                reporter.write("\n")
            reporter.write_line(self.format(record))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "superseded_by(*stages): the asserted state is changed by design once "
                                       "one of these later stages has started")
    progress = logging.getLogger(waits.LOGGER)
    progress.setLevel(logging.INFO)
    config._octane_progress = LiveProgress(config)  # type: ignore[attr-defined]
    progress.addHandler(config._octane_progress)  # type: ignore[attr-defined]
    # pytest-dependency reads this option in its own pytest_configure; conftests of the
    # initial directories are configured after the plugins, so patch its module flag too.
    config.option.ignore_unknown_dependency = True
    try:
        import pytest_dependency
    except ImportError:  # pragma: no cover - installed with the test extras
        return
    pytest_dependency._ignore_unknown = True


def pytest_unconfigure(config: pytest.Config) -> None:
    handler = getattr(config, "_octane_progress", None)
    if handler is not None:  # pytest.main may run again in this process (octane, tests)
        logging.getLogger(waits.LOGGER).removeHandler(handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    by_stage: dict[int, list[str]] = {}
    for item in items:
        number = stage_number(item.nodeid)
        # A moment-in-time test is skipped once superseded: that skip must not skip the stages
        # after it. Its stage's test_completed (the procedure's own verify) still gates them.
        if number is not None and item.get_closest_marker("superseded_by") is None:
            by_stage.setdefault(number, []).append(item.nodeid)
    ordered = sorted(by_stage)
    previous = {later: by_stage[earlier] for earlier, later in zip(ordered, ordered[1:], strict=False)}
    unbounded = config.getoption("timeout", None) is None and not os.environ.get("PYTEST_TIMEOUT")
    for item in items:
        number = stage_number(item.nodeid)
        if number is not None:
            item.add_marker(pytest.mark.dependency(depends=previous.get(number, []), scope="session"))
            if unbounded:
                item.add_marker(pytest.mark.timeout(0))


@pytest.fixture(scope="session", autouse=True)
def workload_monitor(monitor):  # noqa: ANN001, ANN201 - fixtures
    """The workload monitor runs before any stage module's action (runbook.fixtures.monitor)."""
    return monitor


@pytest.fixture(autouse=True)
def superseded(request: pytest.FixtureRequest) -> None:
    """Skip a moment-in-time test once a stage that changes that state by design has started."""
    marker = request.node.get_closest_marker("superseded_by")
    if marker is None:
        return
    journal = request.getfixturevalue("journal")
    journal.refresh()
    started = [name for name in marker.args if journal.stage_status(name) != "pending"]
    if started:
        pytest.skip(f"superseded: {', '.join(started)} changed this state by design after it held "
                    "(the journal keeps the evidence of when it did)")
