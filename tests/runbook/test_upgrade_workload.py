"""The arithmetic of benchmarks/upgrade_workload.py (the benchmark itself runs a whole upgrade and is
not part of `make test`): lab time of a journal time, attribution of an outage to its stage and step,
per-VM sums, unions of simulated work, the write window's bound and the ledger's window."""

from __future__ import annotations

import pytest

from benchmarks import upgrade_workload as bench
from benchmarks.upgrade_workload import LabClock, Span


def test_lab_clock_maps_wall_to_lab_time() -> None:
    clock = LabClock(wall0=1000.0, lab0=50.0, factor=0.001)
    assert clock.lab(1000.0) == 50.0
    assert clock.lab(1002.5) == pytest.approx(2550.0)


def test_journal_spans_and_attribution_to_the_latest_started_step() -> None:
    journal = {"stages": {
        "stage5": {"started": "2026-01-01T00:00:10.000+00:00", "ended": "2026-01-01T00:00:20.000+00:00",
                   "steps": {"cut": {"started": "2026-01-01T00:00:11.000+00:00",
                                     "ended": "2026-01-01T00:00:15.000+00:00"},
                             "inner": {"started": "2026-01-01T00:00:12.000+00:00",
                                       "ended": "2026-01-01T00:00:13.000+00:00"},
                             "running": {"started": "2026-01-01T00:00:16.000+00:00", "ended": None}}},
        "stage6": {"started": None, "steps": {}}}}
    stages, steps = bench.journal_spans(journal)
    assert [s.name for s in stages] == ["stage5"]
    base = stages[0].start - 10
    assert bench.attribute(base + 12.5, stages, steps) == ("stage5", "inner")
    assert bench.attribute(base + 14.0, stages, steps) == ("stage5", "cut")
    assert bench.attribute(base + 16.0, stages, steps) == ("stage5", "running")
    assert bench.attribute(base + 19.0, stages, steps) == ("stage5", None)
    assert bench.attribute(base + 25.0, stages, steps) == (bench.BETWEEN, None)


def test_outages_summed_per_vm_then_per_stage_and_step() -> None:
    outages = [{"vm": "a", "seconds": 300.0, "stage": "s5", "step": "kill"},
               {"vm": "b", "seconds": 250.0, "stage": "s5", "step": "kill"},
               {"vm": "a", "seconds": 0.2, "stage": "s6", "step": "migrate"},
               {"vm": "a", "seconds": 0.2, "stage": "s6", "step": "migrate"}]
    found = bench.outage_figures(outages, ["a", "b", "c"])
    assert found["max_per_vm"] == 300.4 and found["per_vm"]["c"] == 0.0
    assert found["by_stage"]["s5"] == {"vms": 2, "max_per_vm": 300.0, "total": 550.0}
    assert found["by_stage"]["s6"] == {"vms": 1, "max_per_vm": 0.4, "total": 0.4}
    assert found["by_step"]["s6 / migrate"]["max_per_vm"] == 0.4


def test_union_counts_overlaps_once() -> None:
    assert bench.union_length([(0, 10), (5, 15), (20, 25), (21, 22), (30, 30)]) == 20
    assert bench.union_length([]) == 0


def test_simulated_work_at_nominal_length_from_its_start() -> None:
    durations = {"provision": 600.0, "deploy": 900.0, "reboot": 120.0, "live_migration": 20.0,
                 "migration_pause": 0.2}
    tasks = [{"name": "provision", "time_start": 0.0, "time_end": 680.0},
             {"name": "deployment", "time_start": 700.0, "time_end": 1900.0},
             {"name": "upgrade", "time_start": 2000.0, "time_end": 2010.0},
             {"name": "provision", "time_start": None}]
    migrations = [{"at": 3030.0, "seconds": 30.0}, {"at": 3035.0, "seconds": 30.0}]
    intervals, unknown = bench.simulated_intervals(tasks, migrations, durations)
    assert intervals == [(0.0, 600.0), (700.0, 1600.0), (2000.0, 2010.0), (3000.0, 3020.2), (3005.0, 3025.2)]
    assert unknown == ["upgrade"]
    assert bench.union_length(intervals) == pytest.approx(600 + 900 + 10 + 25.2)


def test_write_bound_takes_the_last_attempt_of_the_cut() -> None:
    steps = {"stage3_upgrade_db": [Span("dump", 0, 1), Span("test-restore", 1, 5), Span("restore", 5, 7),
                                   Span("db sync nova", 7, 8), Span("db sync neutron", 8, 8.5)],
             "stage5_upgrade_control": [Span("stop seed cluster", 10, 11), Span("rollback #1", 11, 12),
                                        Span("stop seed cluster #2", 20, 21), Span("leave maintenance", 25, 26)]}
    bound = bench.write_bound(steps, "stage3_upgrade_db", "stage5_upgrade_control")
    assert bound == {"dump": 1, "restore": 2, "sync": 1.5, "switch": 6, "total": 10.5}
    assert bench.write_bound({}, "stage3_upgrade_db", "stage5_upgrade_control")["total"] == 0


def test_ledger_write_window_from_the_first_refusal_to_the_next_acceptance() -> None:
    events = [{"kind": "api_writes", "at": 5.0, "accepted": True}, {"kind": "tenant_write", "at": 6.0},
              {"kind": "api_writes", "at": 100.0, "accepted": False},
              {"kind": "api_writes", "at": 150.0, "accepted": False},
              {"kind": "api_writes", "at": 900.0, "accepted": True}]
    assert bench.write_window_lab(events) == 800.0
    assert bench.write_window_lab(events[:3]) is None
    assert bench.ratio(2.0, 1.0) == "2.00" and bench.ratio(0, 0) == "0 (ok)" and bench.ratio(None, 1) == "-"
