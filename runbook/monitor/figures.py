"""What the upgrade cost the tenants, computed from the monitor's record (runbook.monitor.store).

Rules, in wall-clock seconds (the monotonic clock of the monitor's host):

- A VM outage runs from the first probe that failed to the first probe that
  connected again, so it is exact to about one probe interval. It counts for
  the stage (and step) running when it began: the likely cause. A VM already
  down at the monitor's first probe has an outage from that probe
  (`down_at_start`); one still down when the record ends is closed there
  (`open`: at the monitor's stop, at its last record if it died, or now if it
  runs).
- API reads: availability is the share of read probes answered 2xx while the
  stage ran (probe counts, not time); a gap runs from a failed read to the
  next answered one and counts for the stage it began in.
- API writes (when probed): the write outage window of a stage runs from its
  first refused write to its last refused write; overall, from the first
  refusal to the last one of the whole record.
- Records of several runs of the monitor (restarted between sessions) are
  combined; an outage never spans two runs.
- While the monitor runs, probe counts are those of its last progress record
  (at most `tick_interval`, 10 s, old; refreshed at once when an API's state
  changes); state changes are always up to date.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from runbook.monitor.attribution import IDLE

ALL = "(all)"


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def _stage(record: dict[str, Any]) -> str:
    return record.get("stage") or IDLE


def split_runs(events: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The records of each run of the monitor (a run begins with its `start`)."""
    runs: list[list[dict[str, Any]]] = []
    for event in events:
        if event["e"] == "start" or not runs:
            runs.append([])
        runs[-1].append(event)
    return runs


class _Run:
    """Walks one run's records: closed VM outages, API gaps, segments' counts."""

    def __init__(self, events: list[dict[str, Any]], end: tuple[float, float] | None) -> None:
        self.outages: list[dict[str, Any]] = []
        self.gaps: list[dict[str, Any]] = []
        self.segments: dict[int, dict[str, Any]] = {}  # seg -> {"stage", "step", counts...}
        self.targets: dict[str, list[Any]] = {}
        first = events[0]
        self.start = first if first["e"] == "start" else None
        self.stopped = next((e.get("why") for e in events if e["e"] == "stop"), None)
        last = events[-1]
        self.end = end or (last["t"], last["m"])
        self.first_t, self.last_t = first["t"], self.end[0]
        self._walk(events)

    def _walk(self, events: list[dict[str, Any]]) -> None:
        open_vm: dict[str, dict[str, Any]] = {}
        open_api: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        for event in events:
            kind = event["e"]
            if kind == "ctx":
                self.segments[event["seg"]] = {"stage": _stage(event), "step": event.get("step")}
            elif kind == "seg":
                self.segments.setdefault(event["seg"], {"stage": IDLE, "step": None}).update(
                    {k: event.get(k) for k in ("vm", "read", "write") if event.get(k) is not None})
            elif kind == "targets":
                self.targets.update(event.get("vms") or {})
                for vm in [v for v in open_vm if v not in (event.get("vms") or {})]:
                    self.outages.append(_closed(open_vm.pop(vm), event, vm, closed="no longer probed"))
            elif kind == "vm":
                vm = event["id"]
                if not event["up"] and vm not in open_vm:
                    open_vm[vm] = {**event, "down_at_start": vm not in seen}
                elif event["up"] and vm in open_vm:
                    self.outages.append(_closed(open_vm.pop(vm), event, vm))
                seen.add(vm)
            elif kind == "api":
                api = event["k"]
                if not event["up"] and api not in open_api:
                    open_api[api] = event
                elif event["up"] and api in open_api:
                    self.gaps.append(_closed(open_api.pop(api), event, api))
        end = {"t": self.end[0], "m": self.end[1]}
        closed = "still down when the monitor stopped" if self.stopped else "still down at the end of the record"
        self.outages += [_closed(down, end, vm, closed=closed) for vm, down in open_vm.items()]
        self.gaps += [_closed(down, end, api, closed=closed) for api, down in open_api.items()]


def _closed(down: dict[str, Any], up: dict[str, Any], key: str, closed: str | None = None) -> dict[str, Any]:
    return {"id": key, "start": down["t"], "end": up["t"], "seconds": round(max(0.0, up["m"] - down["m"]), 3),
            "stage": _stage(down), "step": down.get("step"), "why": down.get("why"),
            "open": closed is not None, "closed": closed, "down_at_start": bool(down.get("down_at_start"))}


def _summary(outages: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [o["seconds"] for o in outages]
    return {"outages": len(seconds), "max_s": round(max(seconds, default=0.0), 3),
            "total_s": round(sum(seconds), 3)}


def _by_stage(items: list[dict[str, Any]], order: list[str]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {stage: [] for stage in order}
    for item in items:
        grouped.setdefault(item["stage"], []).append(item)
    return grouped


def compute(events: Iterable[dict[str, Any]], now: tuple[float, float] | None = None) -> dict[str, Any]:
    """The figures of a record. `now` (wall, monotonic): the monitor still runs, its last run ends now."""
    raw = split_runs(events)
    runs = [_Run(r, now if i == len(raw) - 1 else None) for i, r in enumerate(raw)]
    order: list[str] = []
    for run in runs:
        for seg in run.segments.values():
            if seg["stage"] not in order:
                order.append(seg["stage"])
    targets: dict[str, list[Any]] = {}
    for run in runs:
        targets.update(run.targets)
    outages = sorted((o for run in runs for o in run.outages), key=lambda o: o["start"])
    gaps = sorted((g for run in runs for g in run.gaps), key=lambda g: g["start"])
    segments = [seg for run in runs for seg in run.segments.values()]
    write_probed = any((run.start or {}).get("settings", {}).get("write_probe") for run in runs)
    return {
        "stages": order,
        "runs": [{"run": (r.start or {}).get("run"), "started": iso(r.first_t), "ended": iso(r.last_t),
                  "stopped": r.stopped, "running": now is not None and r is runs[-1]} for r in runs],
        "vms": _vm_figures(targets, outages),
        "vm_outages": [{**o, "name": (targets.get(o["id"]) or [o["id"]])[0], "start": iso(o["start"]),
                        "end": iso(o["end"])} for o in outages],
        "api_read": _read_figures(segments, [g for g in gaps if g["id"] == "read"], order),
        "api_write": _write_figures(segments, [g for g in gaps if g["id"] == "write"], order, write_probed),
    }


def _vm_figures(targets: dict[str, list[Any]], outages: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for vm in sorted(set(targets) | {o["id"] for o in outages}, key=lambda v: (targets.get(v) or [v])[0]):
        mine = [o for o in outages if o["id"] == vm]
        row = targets.get(vm) or [vm, None, None]
        out[vm] = {"name": row[0], "address": row[1], **_summary(mine),
                   "by_stage": {stage: _summary(items) for stage, items in _by_stage(mine, []).items()}}
    return out


def _counts(segments: list[dict[str, Any]], kind: str) -> tuple[int, int, float | None, float | None]:
    ok = failed = 0
    first: float | None = None
    last: float | None = None
    for seg in segments:
        c = seg.get(kind) or [0, 0, None, None]
        ok, failed = ok + c[0], failed + c[1]
        if c[2] is not None:
            first = c[2] if first is None else min(first, c[2])
        if c[3] is not None:
            last = c[3] if last is None else max(last, c[3])
    return ok, failed, first, last


def _read_row(segments: list[dict[str, Any]], gaps: list[dict[str, Any]]) -> dict[str, Any]:
    ok, failed, _, _ = _counts(segments, "read")
    probes = ok + failed
    return {"probes": probes, "answered": ok,
            "availability_pct": round(100.0 * ok / probes, 2) if probes else None,
            "gaps": len(gaps), "longest_gap_s": round(max((g["seconds"] for g in gaps), default=0.0), 3)}


def _read_figures(segments: list[dict[str, Any]], gaps: list[dict[str, Any]], order: list[str]) -> dict[str, Any]:
    by_gap = _by_stage(gaps, order)
    by_stage = {stage: _read_row([s for s in segments if s["stage"] == stage], by_gap[stage]) for stage in order}
    return {"by_stage": by_stage, ALL: _read_row(segments, gaps),
            "gaps": [{**g, "start": iso(g["start"]), "end": iso(g["end"])} for g in gaps]}


def _write_row(segments: list[dict[str, Any]]) -> dict[str, Any]:
    ok, refused, first, last = _counts(segments, "write")
    return {"probes": ok + refused, "refused": refused, "first_refusal": iso(first), "last_refusal": iso(last),
            "window_s": round(last - first, 3) if first is not None and last is not None else 0.0}


def _write_figures(segments: list[dict[str, Any]], gaps: list[dict[str, Any]], order: list[str],
                   probed: bool) -> dict[str, Any]:
    return {"probed": probed,
            "by_stage": {stage: _write_row([s for s in segments if s["stage"] == stage]) for stage in order},
            ALL: _write_row(segments),
            "gaps": [{**g, "start": iso(g["start"]), "end": iso(g["end"])} for g in gaps]}


# --------------------------------------------------------------------------- the table


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [header] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]


def render(figures: dict[str, Any]) -> str:
    """The figures as the plain-text tables `report` prints."""
    lines = []
    runs = figures["runs"]
    if runs:
        lines.append(f"record from {runs[0]['started']} to {runs[-1]['ended']} ({len(runs)} run(s) of the monitor"
                     + ("; running" if runs[-1]["running"] else "") + ")")
    lines += ["", "VM outages (wall seconds; each counts for the stage running when it began)"]
    rows = [[vm["name"], vm["address"], stage, s["outages"], s["max_s"], s["total_s"]]
            for vm in figures["vms"].values() for stage, s in vm["by_stage"].items()]
    quiet = sum(1 for vm in figures["vms"].values() if not vm["outages"])
    lines += _table(["vm", "floating ip", "stage", "outages", "max s", "total s"], rows) if rows else ["(none)"]
    lines.append(f"{quiet} of {len(figures['vms'])} VM(s) probed had no outage")
    read = figures["api_read"]
    lines += ["", "API reads (GET servers through the original env's API)"]
    lines += _table(["stage", "probes", "availability %", "gaps", "longest gap s"],
                    [[stage, r["probes"], r["availability_pct"], r["gaps"], r["longest_gap_s"]]
                     for stage, r in [*read["by_stage"].items(), (ALL, read[ALL])]])
    write = figures["api_write"]
    lines += ["", "API writes (key pair created and deleted)"]
    if not write["probed"]:
        lines.append("(not probed: start the monitor with --write-probe)")
    else:
        lines += _table(["stage", "probes", "refused", "first refusal", "last refusal", "window s"],
                        [[stage, w["probes"], w["refused"], w["first_refusal"], w["last_refusal"], w["window_s"]]
                         for stage, w in [*write["by_stage"].items(), (ALL, write[ALL])]])
    return "\n".join(lines)
