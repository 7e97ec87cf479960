"""Address blocks for labs that run side by side (test sessions, xdist workers, benchmarks).

A lab uses 127.<p>.0.0/16 .. 127.<p+4>.0.0/16. `claim()` returns a block no
other claimant on this machine holds, with the lock that keeps it: hold the
returned handle for as long as the lab runs, close it to release the block.
The default lab (`.lab/`, prefix 20) is below the claimable range.
"""

from __future__ import annotations

import fcntl
import socket
from typing import IO

PROBE_PORT = 8000  # the Fuel API on the block's master address: every lab binds it

PREFIXES = range(100, 250, 5)


def claim() -> tuple[int, IO[str]]:
    for prefix in PREFIXES:
        handle = open(f"/tmp/fuellab-test-prefix-{prefix}.lock", "w")  # noqa: SIM115 - the caller holds it
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        if not _free(prefix):  # a lab started by hand on this block, holding no lock
            handle.close()
            continue
        return prefix, handle
    raise RuntimeError("every lab address block is in use; too many labs at once on this machine")


def _free(prefix: int) -> bool:
    """Nothing listens on the block's master address (a lab would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((f"127.{prefix}.0.2", PROBE_PORT))
        except OSError:
            return False
    return True
