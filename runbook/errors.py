"""One exception hierarchy for the runbook: what failed, where, and what to do next.

Every error an operator can see carries a `fix` (the next thing to do) and,
where it applies, the node and the command. `str(error)` is the one-line
message shown in logs and reports; secrets never go into it (callers pass
redacted commands: see `runbook.redact`).
"""

from __future__ import annotations


class OctaneError(Exception):
    """Base of every error the runbook raises on purpose."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} — {self.fix}" if self.fix else self.message


class ConfigError(OctaneError):
    """The target or the command line is wrong: nothing was changed."""


class JournalError(OctaneError):
    """The journal refuses: a stage out of order, or another run holds the lock."""


class RemoteError(OctaneError):
    """A command on a node failed (non-zero exit)."""

    def __init__(self, node: str, command: str, status: int, stderr: str, fix: str | None = None) -> None:
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no error output"
        super().__init__(f"{node}: `{command}` exited {status}: {detail}", fix)
        self.node = node
        self.command = command
        self.status = status
        self.stderr = stderr


class RemoteTimeout(OctaneError):
    """A remote call or a wait did not finish in time."""


class UnreachableError(OctaneError):
    """A node cannot be reached, or its host key is unknown or changed."""


class FuelError(OctaneError):
    """The Fuel master refused a request or a task ended in error."""


class CloudError(OctaneError):
    """An OpenStack API refused a request or did not answer."""


class PreflightError(OctaneError):
    """A precondition of the upgrade does not hold: nothing was changed."""


class MonitorError(OctaneError):
    """The workload monitor cannot start, stop or report."""


class ReportError(OctaneError):
    """A report cannot be built: its inputs are missing or malformed, or a tool it needs failed."""
