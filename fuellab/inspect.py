"""The lab's ledger summarised for tests and benchmarks (`fuellab inspect`), never for the runbook."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fuellab.lab import Lab


def summary(lab: Lab) -> dict[str, Any]:
    lab.addresses.holders()  # audit conflicts up to now
    ledger = lab.world.ledger
    outages: dict[str, float] = defaultdict(float)
    for e in ledger:
        if e["kind"] == "vm_outage":
            outages[e["vm"]] += float(e["seconds"])
    return {
        "lost_writes": sum(1 for e in ledger if e["kind"] == "lost_write"),
        "bytes_moved": sum(int(e.get("bytes", 0)) for e in ledger if e["kind"] == "backfill"),
        "ip_conflicts": [
            {"address": e["address"], "holders": e["holders"], "at": e["at"]}
            for e in ledger if e["kind"] == "ip_conflict"
        ],
        "open_ip_conflicts": sorted(lab.world.meta.get("open_conflicts", {})),
        "vms_rebooted": len({e["vm"] for e in ledger if e["kind"] == "vm_reboot"}),
        "max_vm_outage_s": max(outages.values(), default=0.0),
        "vm_outage_s": dict(outages),
        "events": len(ledger),
    }
