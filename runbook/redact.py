"""Secrets out of logs, journals and reports: one redactor, applied where text leaves the process.

The runbook registers every secret it loads (`register`); `redact(text)`
replaces each with `***`. The logging filter applies it to every record, so
callers need not remember to.
"""

from __future__ import annotations

import logging
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"
MIN_LENGTH = 4  # shorter strings would mask ordinary words


def register(*values: str | None) -> None:
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= MIN_LENGTH)


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Install on handlers: every record's final message is redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
