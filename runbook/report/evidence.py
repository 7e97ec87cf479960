"""Allure helpers for stage modules: suites, steps and attachments, always redacted.

Allure is optional at run time (a stage runs the same without allure-pytest);
every helper degrades to a no-op then. Attachments pass through
`runbook.redact` here, so a stage cannot attach a secret by forgetting to.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from runbook import redact

try:
    import allure
except ImportError:  # pragma: no cover - allure-pytest is installed with the test extras
    allure = None

F = TypeVar("F", bound=Callable[..., Any])


def attach(name: str, data: Any) -> None:
    """Attach plain data (as JSON) or text to the running test's report."""
    if allure is None:
        return
    if isinstance(data, str):
        allure.attach(redact.redact(data), name=name, attachment_type=allure.attachment_type.TEXT)
    else:
        allure.attach(redact.redact(json.dumps(data, indent=1, default=str, sort_keys=True)), name=name,
                      attachment_type=allure.attachment_type.JSON)


def suite(name: str) -> Callable[[F], F]:
    """Decorator: the test belongs to the Allure suite `name` (one suite per stage)."""
    if allure is None:
        return lambda fn: fn
    return allure.suite(name)


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """An Allure step around a block (a procedure step seen in the report)."""
    if allure is None:
        yield
        return
    with allure.step(redact.redact(title)):
        yield


def step_hook(name: str, result: Any) -> None:
    """For procedures' `step_hook(name, result)`: one finished step with its evidence."""
    with step(name):
        attach(f"evidence {name}", result)
