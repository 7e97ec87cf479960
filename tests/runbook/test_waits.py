"""Progress of long waits (runbook.lib.waits): a line when a wait starts, one per period while it
lasts, one when reached; the last poll's words; secrets redacted; plain lines for a CI log."""

from __future__ import annotations

import logging

import pytest
from tenacity import (
    RetryError,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_none,
)

from runbook import redact
from runbook.lib import waits


class NotYet(Exception):
    pass


class Clock:
    """A fake monotonic clock that every poll advances by `step` seconds."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        return self.now


def _poller(clock: Clock, polls_before_ready: int, message: str = "node-4 provisioning"):
    seen = {"polls": 0}

    def poll() -> str:
        seen["polls"] += 1
        clock.now += clock.step
        if seen["polls"] <= polls_before_ready:
            raise NotYet(f"{message} {seen['polls'] * 10}%")
        return "ready"
    return poll


def _retrying(what: str, clock: Clock, **kwargs):
    # tenacity's own clock for the stop rule stays real (the test is quick); the progress clock is fake.
    return waits.retrying(what, stop=stop_after_delay(600), wait=wait_none(), every=15, clock=clock,
                          retry=retry_if_exception_type(NotYet), **kwargs)


def test_a_long_wait_says_what_where_and_how_long(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(step=6.0)
    with caplog.at_level(logging.INFO, logger=waits.LOGGER):
        assert _retrying("node(s) 10, 11 to become ready", clock)(_poller(clock, 7)) == "ready"
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "waiting for node(s) 10, 11 to become ready (up to 10 min): node-4 provisioning 10%"
    # polls every 6 s: the first line at 6 s, then one at least 15 s after the one before
    assert lines[1] == ("still waiting for node(s) 10, 11 to become ready: 24 s so far, 9 min 36 s left: "
                        "node-4 provisioning 40%")
    assert lines[2].startswith("still waiting for node(s) 10, 11 to become ready: 42 s so far")
    assert lines[-1] == "node(s) 10, 11 to become ready: reached after 48 s"
    assert len(lines) == 4 and not any("\r" in line or "\x1b" in line for line in lines)


def test_a_wait_met_at_once_says_nothing_and_a_short_one_only_its_start(caplog) -> None:
    clock = Clock(step=1.0)
    with caplog.at_level(logging.INFO, logger=waits.LOGGER):
        _retrying("quick", clock)(_poller(clock, 0))
        assert caplog.records == []
        _retrying("short", clock)(_poller(clock, 2))
    assert [r.getMessage() for r in caplog.records] == ["waiting for short (up to 10 min): node-4 provisioning 10%"]


def test_a_result_poll_explains_itself_through_detail_and_secrets_are_masked(caplog) -> None:
    redact.register("s3cr3t-rabbit-pw")
    clock = Clock(step=20.0)
    answers = iter([None, None, "done"])

    def poll() -> str | None:
        clock.now += clock.step
        return next(answers)

    retrying = waits.retrying("task 7", detail=lambda: "still node-4 deploying 40% (pw s3cr3t-rabbit-pw)",
                              stop=stop_after_delay(60), wait=wait_none(), clock=clock,
                              retry=retry_if_result(lambda r: r is None))
    with caplog.at_level(logging.INFO, logger=waits.LOGGER):
        assert retrying(poll) == "done"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "still node-4 deploying 40% (pw ***)" in text and "s3cr3t" not in text
    assert "task 7: reached after 1 min" in text


def test_the_wait_still_times_out_as_the_caller_asked() -> None:
    clock = Clock(step=1.0)
    retrying = waits.retrying("never", stop=stop_after_delay(0.05), wait=wait_none(), clock=clock,
                              retry=retry_if_exception_type(NotYet))
    with pytest.raises(RetryError):
        retrying(_poller(clock, 10**9))


@pytest.mark.parametrize(("seconds", "text"), [(4.26, "4.3 s"), (42, "42 s"), (255, "4 min 15 s"), (120, "2 min"),
                                               (7500, "2 h 5 min")])
def test_durations_read_like_a_person_would_say_them(seconds: float, text: str) -> None:
    assert waits.duration(seconds) == text
