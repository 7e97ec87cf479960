"""The lab's ledger summarised for tests and benchmarks (`fuellab inspect`), never for the runbook."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from fuellab import traffic
from fuellab.dataplane.engine import OPEN_KEY

if TYPE_CHECKING:
    from fuellab.lab import Lab


def summary(lab: Lab) -> dict[str, Any]:
    lab.addresses.holders()  # audit conflicts up to now
    ledger = lab.world.ledger
    lost_writes = traffic.audit_lost_writes(lab)  # records lost writes found up to now
    outages: dict[str, float] = defaultdict(float)
    for e in ledger:
        if e["kind"] == "vm_outage":
            outages[e["vm"]] += float(e["seconds"])
    for node in lab.world.nodes.values():  # every guest has an entry, outage or not
        for dom in node.domains.values():
            outages[str(dom.get("uuid"))] += 0.0
    # Outages still going on count up to now (fuellab.dataplane.engine keeps them open).
    now = lab.clock.now()
    still_open = lab.world.meta.get(OPEN_KEY, {})
    for vm, since in still_open.items():
        outages[vm] += max(0.0, now - float(since))
    return {
        "lost_writes": lost_writes,
        "bytes_moved": sum(int(e.get("bytes", 0)) for e in ledger if e["kind"] == "backfill"),
        "objects_lost": sum(1 for e in ledger if e["kind"] == "object_lost"),
        "ip_conflicts": [
            {"address": e["address"], "holders": e["holders"], "at": e["at"]}
            for e in ledger if e["kind"] == "ip_conflict"
        ],
        "open_ip_conflicts": sorted(lab.world.meta.get("open_conflicts", {})),
        "vms_rebooted": len({e["vm"] for e in ledger if e["kind"] == "vm_reboot"}),
        "max_vm_outage_s": round(max(outages.values(), default=0.0), 3),
        "vm_outage_s": {vm: round(s, 3) for vm, s in sorted(outages.items())},
        "vms_unreachable": sorted(still_open),
        "tenant_writes": sum(1 for e in ledger if e["kind"] == "tenant_write"),
        # which env accepted them (original and seed share the VIP), and what was lost where
        "tenant_writes_by_env": dict(sorted(Counter(str(e.get("env")) for e in ledger
                                                    if e["kind"] == "tenant_write").items())),
        "lost_write_ids": sorted({e["id"] for e in ledger if e["kind"] == "lost_write"}),
        "live_migrations": {status: sum(1 for e in ledger if e["kind"] == "live_migration"
                                        and e.get("status") == status) for status in ("completed", "failed")},
        "events": len(ledger),
    }
