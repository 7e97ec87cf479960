"""The arithmetic of benchmarks/validate_scale.py (the benchmark itself runs labs of up to 500 nodes and
is not part of `make test`): the stages' `-k` expression, JUnit times per stage, growth between
sizes, the least-squares line and the size the aim is judged at."""

from __future__ import annotations

import pytest

from benchmarks import validate_scale as bench

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="runbook.stages.stage0_preflight" name="test_precondition[a]" time="1.5" />
<testcase classname="runbook.stages.stage0_preflight" name="test_baseline_cloud" time="0.5" />
<testcase classname="runbook.stages.stage5_upgrade_control" name="test_computes" time="30.0">
  <failure message="x">x</failure></testcase>
<testcase classname="runbook.stages.stage5_upgrade_control" name="test_original" time="0.2">
  <skipped message="superseded" /></testcase>
</testsuite></testsuites>"""


def test_stage_expression_from_ranges_and_lists() -> None:
    assert bench.stage_expression("0-2") == "stage0 or stage1 or stage2"
    assert bench.stage_expression("5,0-1,1") == "stage0 or stage1 or stage5"
    with pytest.raises(ValueError):
        bench.stage_expression("3-1")


def test_junit_times_summed_per_stage_with_outcomes() -> None:
    tests = bench.junit_tests(JUNIT)
    assert [t.outcome for t in tests] == ["passed", "passed", "failed", "skipped"]
    assert bench.per_stage(tests) == pytest.approx({"stage0_preflight": 2.0, "stage5_upgrade_control": 30.2})
    assert bench.outcomes(tests) == {"passed": 2, "failed": 1, "skipped": 1}


def test_growth_between_consecutive_sizes_in_node_order() -> None:
    assert bench.growth([(500, 60.0), (50, 6.0), (200, 21.0)]) == pytest.approx([0.1, 0.13])


def test_least_squares_line_and_its_refusals() -> None:
    slope, intercept = bench.fit([(50, 7.0), (200, 22.0), (500, 52.0)])
    assert slope == pytest.approx(0.1)
    assert intercept == pytest.approx(2.0)
    with pytest.raises(ValueError):
        bench.fit([(50, 1.0)])
    with pytest.raises(ValueError):
        bench.fit([(50, 1.0), (50, 2.0)])


def test_aim_judged_at_the_size_nearest_500_nodes() -> None:
    assert bench.aim_point([(50, 5.0), (200, 20.0), (500, 55.0)]) == (500, 55.0)
    assert bench.aim_point([(50, 5.0), (200, 20.0)]) == (200, 20.0)
