"""Altered action: a sloppy cleanup. cleanup-env deletes no stale service or agent, leaves the RPC pin
on the seed controllers (restarting their nova services anyway) and removes it from the computes
without restarting nova-compute, then checks nothing; cleanup-fuel leaves the extensions enabled and
deletes upgrade-db's dump (the only copy of the pre-upgrade databases), then checks nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from runbook.lib import ini, upstart
    from runbook.procedure import cleanup, upgrade_db

    def unpin(ctx: Any, node: str, controller: bool) -> dict[str, Any]:
        if controller:  # the pin stays; the services restart on the same nova.conf
            for job in cleanup.nova_jobs(ctx, node, controller):
                upstart.restart(ctx.pool, node, job)
            return {"node": node}
        ctx.pool.edit(node, cleanup.NOVA_CONF, lambda text: ini.remove_options(text, cleanup.PIN_OPTION))
        return {"node": node}  # nova-compute keeps running with the nova.conf it read at its start

    def revert_master(ctx: Any) -> dict[str, Any]:
        dump = upgrade_db.recorded_dump(ctx)
        Path(dump["path"]).unlink()
        return {"deleted": dump["path"]}

    cleanup.delete_services = lambda ctx: []
    cleanup.delete_agents = lambda ctx: []
    cleanup.unpin = unpin
    cleanup.verify_env = lambda ctx, pre: {}
    cleanup.revert_master = revert_master
    cleanup.verify_fuel = lambda ctx: {}
