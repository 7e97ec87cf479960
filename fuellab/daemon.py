"""The lab process: Fuel API, node SSH servers and the control socket in one event loop.

Run by `fuellab up` (in the foreground, or detached as `python -m fuellab.daemon DIR`).
The world is flushed to SQLite shortly after every change (a big world, whose save takes longer,
less often) and on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sys
import time
from pathlib import Path

from aiohttp import web

from fuellab.lab import Lab

log = logging.getLogger("fuellab")

FLUSH_INTERVAL = 0.2  # wall seconds between checks for unsaved changes
FLUSH_LOAD = 0.2  # at most this share of wall time goes to saving: a 500-node world takes ~0.4 s


def raise_nofile_limit() -> None:
    """Large labs hold a listener and connections per node: lift the soft fd limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Daemon:
    def __init__(self, lab_dir: Path) -> None:
        self.lab = Lab.open(lab_dir)
        self.stopping = asyncio.Event()
        self.ready = False  # every endpoint and service started
        self.runners: list[web.AppRunner] = []
        self.ssh = None

    @property
    def pid_file(self) -> Path:
        return self.lab.dir / "lab.pid"

    @property
    def control_socket(self) -> Path:
        return self.lab.dir / "control.sock"

    async def start(self) -> None:
        from fuellab import control
        from fuellab.fuel.app import make_app
        from fuellab.node.server import SSHServers

        lab = self.lab
        # The pid first: `fuellab down` must be able to stop a lab that is still starting.
        self.pid_file.write_text(f"{os.getpid()}\n")
        lab.daemon = self  # type: ignore[attr-defined]
        lab.write_client_files()
        self.ssh = SSHServers(lab)
        lab.ssh = self.ssh  # type: ignore[attr-defined]
        fuel = web.AppRunner(make_app(lab), access_log=None, handle_signals=False)
        await fuel.setup()
        await web.TCPSite(fuel, lab.world.master_ip, lab.settings.fuel_port, reuse_address=True).start()
        self.runners.append(fuel)
        await self.ssh.start()
        ctl = web.AppRunner(control.make_app(self), access_log=None, handle_signals=False)
        await ctl.setup()
        if self.control_socket.exists():
            self.control_socket.unlink()
        await web.UnixSite(ctl, str(self.control_socket)).start()
        self.control_socket.chmod(0o600)
        self.runners.append(ctl)
        await self.start_services()
        self.ready = True
        lab.spawn(self._flusher(), "flusher")
        log.info("lab ready in %s: %d nodes, Fuel at http://%s:%d", lab.dir, len(lab.world.nodes),
                 lab.world.master_ip, lab.settings.fuel_port)

    async def start_services(self) -> None:
        """Hook for services of the clouds (part 2); resumed tasks of the orchestrator."""
        from fuellab.fuel import orchestrator

        orchestrator.resume(self.lab)
        from fuellab.openstack import gateway

        await gateway.start(self)  # OpenStack APIs on every VIP and controller address
        from fuellab import ceph

        self.lab.spawn(ceph.monitor(self.lab), "ceph-monitor")
        from fuellab import dataplane

        dataplane.start(self.lab)  # guests' listeners and outages, tenant traffic
        from fuellab import registration

        self.lab.spawn(registration.run(self.lab), "registration")  # running services' DB rows

    async def _flusher(self) -> None:
        cost = 0.0  # wall seconds the last save took
        while True:
            await asyncio.sleep(max(FLUSH_INTERVAL, cost / FLUSH_LOAD))
            if self.lab.world.dirty:
                started = time.monotonic()
                self.lab.world.save()
                cost = time.monotonic() - started

    async def stop(self) -> None:
        lab = self.lab
        await lab.cancel_background()
        if self.ssh is not None:
            await self.ssh.stop()
        for runner in reversed(self.runners):
            await runner.cleanup()
        self.runners.clear()
        lab.world.save()
        for path in (self.pid_file, self.control_socket):
            if path.exists():
                path.unlink()

    async def reload(self) -> None:
        """Re-read the world from disk (after `restore`): restart what depends on it."""
        lab = self.lab
        await lab.cancel_background()
        if self.ssh is not None:
            await self.ssh.stop()
        lab.world.load()
        lab.addresses._version = -1
        lab.write_client_files()
        await self.ssh.start()
        await self.start_services()
        lab.spawn(self._flusher(), "flusher")

    async def serve_forever(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        await self.start()
        try:
            await self.stopping.wait()
        finally:
            await self.stop()


def run(lab_dir: Path) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    raise_nofile_limit()
    asyncio.run(Daemon(lab_dir).serve_forever())


if __name__ == "__main__":
    run(Path(sys.argv[1]))
