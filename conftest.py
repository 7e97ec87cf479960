"""Root conftest: makes the repository importable for tests (runbook fixtures come with the runbook)."""
