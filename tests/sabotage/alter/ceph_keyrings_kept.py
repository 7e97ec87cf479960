"""Altered action: upgrade-ceph moves the original's monitor store (its `mon.` keyring included) but
skips the copy of the other keyrings: the seed controllers keep their own admin and bootstrap keys."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.procedure import upgrade_ceph

    upgrade_ceph.keyring_members = lambda members, source: []
