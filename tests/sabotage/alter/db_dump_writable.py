"""Altered action: upgrade-db dumps an original that was never frozen, as the original tooling could:
no read-only HAProxy, no MySQL read_only, and its "stop the writers" stops the cluster's RabbitMQ
instead of the writers. The tenant traffic keeps writing through the API after (or during) the dump."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.lib import pacemaker
    from runbook.procedure import upgrade_db

    def freeze_wrongly(stage: Any, hook: Any, ctx: Any, controllers: list[str]) -> None:
        def stop_infrastructure() -> list[str]:
            pacemaker.resource_stop(ctx.pool, controllers[0], "master_p_rabbitmq-server")
            return ["master_p_rabbitmq-server"]

        stage.call("stop writers", stop_infrastructure)

    upgrade_db._freeze = freeze_wrongly
