"""Altered action: the dump on the master is changed right after it was taken (a disk error, someone
editing it): the bytes the journal's sha256 describes are no longer those on the master."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_db

    original = upgrade_db.dump

    def dump_then_corrupt(ctx: Any, node: str, path: Path) -> dict[str, Any]:
        record = original(ctx, node, path)
        with open(path, "r+b") as handle:
            handle.seek(64)
            handle.write(b"octane sabotage: corrupted on the master")
        return record

    upgrade_db.dump = dump_then_corrupt
