"""Progress of the runbook's waits, in one place: what is awaited, on which node, for how long so far.

Every wait of the runbook polls through tenacity (a deadline, a poll
interval, a condition). `retrying(what, **tenacity_arguments)` is tenacity's
`Retrying` with two hooks added, so a caller only says what it waits for:

- when the first poll finds the condition not met yet: one line, "waiting for
  <what> (up to <timeout>): <why not yet>";
- then one line every `PROGRESS_EVERY` seconds while it lasts: "still waiting
  for <what>: 45 s so far, 4 min 15 s left: <why not yet>";
- and, for a wait long enough to have shown one of those, one line when it is
  reached ("<what>: reached after 1 min 3 s"). A wait that ends at its first
  poll says nothing: the logs stay about what takes time.

"Why not yet" is the last poll's own words: the message of the exception the
wait retries on (`NotYet("node-4 provisioning 40%")`), or `detail()` when the
caller polls for a result instead. The lines go to the logger
`runbook.progress` at INFO, redacted here as well as by the handler (a
node's error output may carry a secret). They are plain lines, never a
carriage-return animation, so a CI log reads them as they came; the stage
runs print them live (runbook/stages/conftest.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from tenacity import RetryCallState, Retrying

from runbook import redact

PROGRESS_EVERY = 15.0  # seconds between two lines of one wait
DETAIL_LIMIT = 240  # characters of "why not yet" per line
LOGGER = "runbook.progress"

log = logging.getLogger(LOGGER)


def duration(seconds: float) -> str:
    """`42 s`, `4 min 15 s`, `2 h 5 min`: short and exact enough for a progress line."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class Progress:
    """The tenacity hooks of one wait; its state lives on tenacity's RetryCallState, so one
    Retrying may serve several waits (each call gets its own state)."""

    def __init__(self, what: str, *, timeout: float | None = None, detail: Callable[[], str] | None = None,
                 every: float = PROGRESS_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.timeout = timeout
        self.detail = detail
        self.every = every
        self.clock = clock

    def _state(self, retry_state: RetryCallState) -> dict[str, Any]:
        state = getattr(retry_state, "_octane_progress", None)
        if state is None:
            state = {"started": self.clock(), "last": None}
            retry_state._octane_progress = state  # type: ignore[attr-defined]
        return state

    def _why(self, retry_state: RetryCallState) -> str:
        text = ""
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            text = str(outcome.exception())
        if not text and self.detail is not None:
            try:
                text = self.detail()
            except Exception as exc:  # noqa: BLE001 - a progress line must never end the wait
                text = f"({type(exc).__name__} while describing it)"
        text = redact.redact(" ".join(text.split()))
        return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + " ..."

    def started(self, retry_state: RetryCallState) -> None:
        """Before the first poll: the clock of this wait starts (nothing is said yet)."""
        if retry_state.attempt_number == 1:
            self._state(retry_state)

    def not_yet(self, retry_state: RetryCallState) -> None:
        """tenacity's before_sleep: a poll found the condition not met and another follows."""
        state = self._state(retry_state)
        now = self.clock()
        elapsed = now - state["started"]
        why = self._why(retry_state)
        suffix = f": {why}" if why else ""
        if state["last"] is None:
            limit = f" (up to {duration(self.timeout)})" if self.timeout else ""
            log.info("waiting for %s%s%s", redact.redact(self.what), limit, suffix)
            state["last"] = now
        elif now - state["last"] >= self.every:
            left = f", {duration(self.timeout - elapsed)} left" if self.timeout else ""
            log.info("still waiting for %s: %s so far%s%s", redact.redact(self.what), duration(elapsed), left,
                     suffix)
            state["last"] = now
            state["spoke"] = True

    def reached(self, retry_state: RetryCallState) -> None:
        """After a poll that met the condition: said only for a wait that reported while it lasted."""
        state = self._state(retry_state)
        if state.get("spoke"):
            log.info("%s: reached after %s", redact.redact(self.what), duration(self.clock() - state["started"]))


def retrying(what: str, *, detail: Callable[[], str] | None = None, every: float = PROGRESS_EVERY,
             clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> Retrying:
    """tenacity's `Retrying(**kwargs)` whose waits report their progress (see the module's docstring).

    `what` names the awaited state and where ("node(s) 10, 11 to become ready"); `detail()` says why
    not yet when the caller retries on a result rather than on an exception. The timeout shown is
    the `stop` strategy's `max_delay` (stop_after_delay), when it has one."""
    stop = kwargs.get("stop")
    progress = Progress(what, timeout=getattr(stop, "max_delay", None), detail=detail, every=every, clock=clock)
    retry = kwargs.pop("retry", None)
    if retry is None:
        from tenacity import retry_if_exception_type

        retry = retry_if_exception_type()

    def watched(retry_state: RetryCallState) -> bool:
        again = bool(retry(retry_state))
        if not again and retry_state.outcome is not None and not retry_state.outcome.failed:
            progress.reached(retry_state)
        return again

    return Retrying(retry=watched, before=progress.started, before_sleep=progress.not_yet, **kwargs)
