"""The workload timeline picture: each VM's reachability and the API's availability over time,
under the stages (and their steps) that ran, as bands.

Inputs are files the runbook wrote, read without locks: the workload monitor's record
(`runbook.monitor.store`: state changes only, so a row is a list of up/down spans between
them) and the journal (each stage's and step's start and end). The journal, not the
monitor's context records, draws the bands: it is complete even for stages that ran while no
monitor was running. Without a monitor record the picture says so where the rows would be;
it is never an error, because a run with `--no-monitor` is legitimate.

`rows()` and `bands()` are plain data (tested on their own); `render()` draws them with
matplotlib's Agg backend (no display needed) and returns PNG bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runbook.monitor.figures import split_runs
from runbook.report.results import epoch

UP, DOWN = "up", "down"
MAX_VM_ROWS = 40  # beyond that, the VMs with the longest outages (a picture of 500 rows is unreadable)
COLOURS = {UP: "#2e7d32", DOWN: "#c62828"}
STAGE_FILL = ("#e3f2fd", "#fff8e1")
STEP_FILL = ("#cfd8dc", "#eceff1")
FAILED_FILL = "#ffcdd2"


@dataclass(frozen=True)
class Span:
    start: float  # epoch seconds
    end: float
    state: str  # up | down


@dataclass
class Row:
    key: str  # a VM id, or api-read / api-write
    label: str
    spans: list[Span] = field(default_factory=list)

    def down_seconds(self) -> float:
        return sum(s.end - s.start for s in self.spans if s.state == DOWN)


@dataclass
class Band:
    name: str
    start: float
    end: float
    status: str  # done | failed | running | ...
    steps: list[Band] = field(default_factory=list)


# --------------------------------------------------------------------------- data


def rows(events: Iterable[dict[str, Any]], now: float | None = None) -> list[Row]:
    """The API rows, then one row per VM (by name), from a monitor record.

    A row holds spans only while a run of the monitor knew the state: nothing before a
    target's first probe, between two runs of the monitor, or after a run stopped. `now`
    ends the last run when the monitor still runs."""
    found: dict[str, Row] = {}
    runs = split_runs(events)
    for index, run in enumerate(runs):
        last = now if now is not None and index == len(runs) - 1 else None
        _walk_run(run, found, last)
    apis = [found[k] for k in ("api-read", "api-write") if k in found]
    vms = sorted((r for k, r in found.items() if not k.startswith("api-")), key=lambda r: (r.label, r.key))
    return apis + vms


def _walk_run(run: list[dict[str, Any]], found: dict[str, Row], now: float | None) -> None:
    state: dict[str, tuple[str, float]] = {}  # key -> (state, since)
    names: dict[str, str] = {}

    def row(key: str) -> Row:
        label = {"api-read": "API read", "api-write": "API write"}.get(key) or names.get(key, key)
        return found.setdefault(key, Row(key, label))

    def close(key: str, at: float) -> None:
        held = state.pop(key, None)
        if held is not None and at > held[1]:
            row(key).spans.append(Span(held[1], at, held[0]))

    for event in run:
        kind, t = event.get("e"), float(event.get("t", 0.0))
        if kind == "targets":
            vms = event.get("vms") or {}
            for vm, target in vms.items():
                names[vm] = f"{target[0]} ({target[1]})" if isinstance(target, list) and len(target) > 1 else str(vm)
                if vm in found:
                    found[vm].label = names[vm]
            for gone in [k for k in state if not k.startswith("api-") and k not in vms]:
                close(gone, t)
        elif kind in ("vm", "api"):
            key = event["id"] if kind == "vm" else f"api-{event.get('k')}"
            new = UP if event.get("up") else DOWN
            if key in state and state[key][0] == new:
                continue
            close(key, t)
            state[key] = (new, t)
            row(key)
    end = now if now is not None else (float(run[-1].get("t", 0.0)) if run else 0.0)
    for key in list(state):
        close(key, end)


def bands(journal: dict[str, Any], now: float) -> list[Band]:
    """Each stage the journal recorded (with its steps), in the order they started; a stage or
    step still running (or cut by a crash) ends `now`."""
    found = []
    for name, record in (journal.get("stages") or {}).items():
        start = epoch(record.get("started"))
        if start is None:
            continue
        band = Band(name, start, epoch(record.get("ended")) or now, str(record.get("status")))
        for step_name, step in (record.get("steps") or {}).items():
            step_start = epoch(step.get("started"))
            if step_start is not None:
                band.steps.append(Band(step_name, step_start, epoch(step.get("ended")) or band.end,
                                       str(step.get("status"))))
        band.steps.sort(key=lambda s: s.start)
        found.append(band)
    return sorted(found, key=lambda b: b.start)


def shown_rows(all_rows: list[Row], limit: int = MAX_VM_ROWS) -> tuple[list[Row], int]:
    """The rows to draw (the API rows, then at most `limit` VMs: the longest outages first when
    there are more) and how many VM rows were left out."""
    apis = [r for r in all_rows if r.key.startswith("api-")]
    vms = [r for r in all_rows if not r.key.startswith("api-")]
    if len(vms) <= limit:
        return apis + vms, 0
    kept = sorted(vms, key=lambda r: -r.down_seconds())[:limit]
    return apis + sorted(kept, key=lambda r: r.label), len(vms) - limit


# --------------------------------------------------------------------------- drawing


@dataclass(frozen=True)
class Picture:
    title: str
    rows: list[Row]
    bands: list[Band]
    note: str = ""  # said where the rows would be (no monitor record) or under them


def window(drawn: list[Row], stages: list[Band]) -> tuple[float, float]:
    """The time range drawn: the stages and every outage, with a small margin; the whole
    record when no stage ran. (A monitor left running after the upgrade would otherwise
    squeeze the stages into a corner of hours of nothing.)"""
    outages = [s for r in drawn for s in r.spans if s.state == DOWN]
    if stages:
        times = [b.start for b in stages] + [b.end for b in stages]
        times += [s.start for s in outages] + [s.end for s in outages]
    else:
        times = [s.start for r in drawn for s in r.spans] + [s.end for r in drawn for s in r.spans]
    if not times:
        return 0.0, 1.0
    low, high = min(times), max(times)
    margin = max((high - low) * 0.03, 1.0)
    return low - margin, high + margin


def _unit(seconds: float) -> tuple[float, str]:
    if seconds <= 600:
        return 1.0, "s"
    if seconds <= 600 * 60:
        return 60.0, "min"
    return 3600.0, "h"


def _fit(text: str, width_in: float, size: float) -> str:
    """`text` cut to what fits in `width_in` inches at font `size` ('' when not even 3 characters)."""
    chars = int(width_in / (size * 0.62 / 72))
    if chars >= len(text):
        return text
    return text[: chars - 1] + "…" if chars >= 4 else ""


def render(picture: Picture, width_in: float = 14.0) -> bytes:
    """The picture as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt

    drawn, left_out = shown_rows(picture.rows)
    t0, t1 = window(drawn, picture.bands)
    span = max(t1 - t0, 1.0)
    scale, unit = _unit(span)
    height_rows = max(len(drawn), 3) * 0.28 + 0.6
    fig, (top, body) = plt.subplots(2, 1, sharex=True, figsize=(width_in, 1.6 + height_rows),
                                    gridspec_kw={"height_ratios": [1.0, height_rows]})
    axis_in = width_in * 0.78
    _draw_bands(top, body, picture.bands, t0, scale, span / scale, axis_in)
    _draw_rows(body, drawn, t0, t1, scale)
    note = picture.note
    if left_out:
        note = (note + "; " if note else "") + f"{left_out} more VM(s) not drawn (the {len(drawn)} with the longest outages are)"
    if not drawn:
        body.text(0.5, 0.5, note or "no workload monitor record", transform=body.transAxes, ha="center",
                  va="center", fontsize=11, wrap=True, color="#37474f",
                  bbox={"facecolor": "white", "alpha": 0.9, "edgecolor": "none"})
    elif note:
        body.set_title(note, fontsize=8, loc="left", color="#37474f")
    body.set_xlim(0, span / scale)
    if drawn or picture.bands:
        start_text = datetime.fromtimestamp(t0, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        body.set_xlabel(f"{unit} since {start_text}")
    else:  # nothing happened yet: no time axis to speak of
        body.tick_params(axis="x", labelbottom=False, bottom=False)
    top.set_title(picture.title, fontsize=12, loc="left")
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLOURS[UP]), plt.Rectangle((0, 0), 1, 1, color=COLOURS[DOWN]),
               plt.Rectangle((0, 0), 1, 1, color=FAILED_FILL)]
    fig.legend(handles, ["reachable / answered", "unreachable / refused", "stage failed"], loc="upper right",
               ncol=3, fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.2, right=0.98, top=1 - 0.55 / fig.get_figheight(), bottom=0.5 / fig.get_figheight() + 0.02,
                        hspace=0.08)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out.getvalue()


def _draw_bands(top: Any, body: Any, stages: list[Band], t0: float, scale: float, width: float, axis_in: float) -> None:
    """Stages in the upper lane, their steps in the lower lane, and the stages faintly behind the rows."""
    top.set_ylim(0, 2)
    top.set_yticks([1.5, 0.5], ["stages", "steps"], fontsize=8)
    top.tick_params(axis="x", labelbottom=False)
    for i, band in enumerate(stages):
        x, w = (band.start - t0) / scale, max((band.end - band.start) / scale, width * 0.002)
        fill = FAILED_FILL if band.status == "failed" else STAGE_FILL[i % 2]
        top.broken_barh([(x, w)], (1.05, 0.9), facecolors=fill, edgecolors="#90a4ae", linewidth=0.5)
        body.axvspan(x, x + w, color=fill, alpha=0.8, linewidth=0)
        body.axvline(x, color="#78909c", linewidth=0.6, linestyle=":")
        label = _fit(band.name, w / width * axis_in, 8) or _fit(band.name.removeprefix("stage")[:1], w / width * axis_in, 8)
        if label:
            top.text(x + w / 2, 1.5, label, ha="center", va="center", fontsize=8)
        labelled_until = float("-inf")  # steps run in parallel overlap: label only the first of them
        for j, step in enumerate(band.steps):
            sx, sw = (step.start - t0) / scale, max((step.end - step.start) / scale, width * 0.001)
            step_fill = FAILED_FILL if step.status == "failed" else STEP_FILL[j % 2]
            top.broken_barh([(sx, sw)], (0.1, 0.8), facecolors=step_fill, edgecolors="none")
            step_label = _fit(step.name, sw / width * axis_in, 6.5) if step.start >= labelled_until else ""
            if step_label:
                top.text(sx + sw / 2, 0.5, step_label, ha="center", va="center", fontsize=6.5)
                labelled_until = step.end


def _draw_rows(body: Any, drawn: list[Row], t0: float, t1: float, scale: float) -> None:
    count = len(drawn)
    body.set_ylim(-0.5, max(count, 1) - 0.5)
    body.set_yticks(range(count), [r.label for r in reversed(drawn)], fontsize=8)
    for y, row in enumerate(reversed(drawn)):
        for state in (UP, DOWN):
            spans = [((max(s.start, t0) - t0) / scale, (min(s.end, t1) - max(s.start, t0)) / scale)
                     for s in row.spans if s.state == state and s.end > t0 and s.start < t1]
            if spans:
                # An outage shorter than a pixel is still drawn: it is what the picture is for.
                body.broken_barh(spans, (y - 0.25, 0.5), facecolors=COLOURS[state],
                                 edgecolors=COLOURS[state] if state == DOWN else "none", linewidth=0.8)
    body.grid(axis="x", color="#b0bec5", linewidth=0.4, alpha=0.7)
