"""The reports' pure logic, without a lab: which result of a test counts, verdicts, the timeline's
spans and bands, the network-load check, the Allure suite staging, and a compliance page
rendered from made-up results."""

from __future__ import annotations

import json
from pathlib import Path

from runbook import redact
from runbook.report import allure_html, compliance, results, timeline
from runbook.report import requirements as reqs
from runbook.report.offline import external_references
from runbook.report.results import Result

STAGE0 = "runbook/stages/stage0_preflight.py"


def _allure(folder: Path, name: str, status: str, start: int, **extra) -> None:
    data = {"name": name, "status": status, "start": start, "stop": start + 500,
            "titlePath": ["runbook", "stages", "stage0_preflight.py"],
            "fullName": "runbook.stages.stage0_preflight#" + name.split("[")[0], **extra}
    (folder / f"{name}-{start}-result.json").write_text(json.dumps(data))


def test_the_latest_result_that_ran_counts_and_evidence_is_redacted_and_short(tmp_path: Path) -> None:
    folder = tmp_path / "allure-results"
    folder.mkdir()
    redact.register("s3cr3t-report-value")
    (folder / "a-attachment.json").write_text(json.dumps({"password": "s3cr3t-report-value", "rows": "x" * 5000}))
    _allure(folder, "test_precondition[free_nodes]", "failed", 1000, statusDetails={"message": "boom"})
    _allure(folder, "test_precondition[free_nodes]", "passed", 2000,
            steps=[{"name": "s", "attachments": [{"name": "rows", "source": "a-attachment.json",
                                                    "type": "application/json"}]}])
    _allure(folder, "test_precondition[free_nodes]", "skipped", 3000)  # a later validation's skip
    (tmp_path / "junit.xml").write_text(
        '<testsuites><testsuite timestamp="2026-01-01T00:00:00"><testcase classname="runbook.stages.stage0_preflight" '
        'name="test_baseline_fuel" time="0.5"><failure message="no env"/></testcase></testsuite></testsuites>')
    found = results.collect(tmp_path)
    passed = found[f"{STAGE0}::test_precondition[free_nodes]"]
    assert passed.status == "passed" and passed.start == 2.0
    assert len(passed.evidence) == 1 and "s3cr3t-report-value" not in passed.evidence[0].text
    assert passed.evidence[0].text.endswith("more characters)") and len(passed.evidence[0].text) < 1000
    assert set(found) == {f"{STAGE0}::test_precondition[free_nodes]"}  # no mix with JUnit files
    for path in folder.iterdir():
        path.unlink()
    assert results.collect(tmp_path)[f"{STAGE0}::test_baseline_fuel"].status == "failed"  # JUnit when no Allure


def test_verdicts() -> None:
    requirement = reqs.Requirement("R", "t", "s", (f"{STAGE0}::test_a", f"{STAGE0}::test_b"))
    cases = [({"test_a": "passed", "test_b": "passed"}, "proved"),
             ({"test_a": "passed", "test_b": "failed"}, "failed"),
             ({"test_a": "error"}, "failed"),
             ({"test_a": "passed"}, "incomplete"),
             ({"test_a": "passed", "test_b": "skipped"}, "incomplete"),
             ({"test_b": "skipped"}, "not run"),
             ({}, "not run")]
    for statuses, expected in cases:
        found = {f"{STAGE0}::{name}": Result(f"{STAGE0}::{name}", status) for name, status in statuses.items()}
        [verdict] = compliance.verdicts([requirement], found)
        assert verdict.verdict == expected, (statuses, verdict.verdict)
        assert len(verdict.checks) == 2  # a check that did not run is still listed


def test_timeline_rows_follow_state_changes_and_runs() -> None:
    events = [
        {"e": "start", "t": 100.0}, {"e": "targets", "t": 100.0, "vms": {"v1": ["web-1", "10.0.0.1", 22]}},
        {"e": "api", "k": "read", "up": True, "t": 101.0},
        {"e": "vm", "id": "v1", "up": True, "t": 101.0},
        {"e": "vm", "id": "v1", "up": False, "t": 105.0},
        {"e": "vm", "id": "v1", "up": True, "t": 106.5},
        {"e": "stop", "t": 110.0},
        {"e": "start", "t": 200.0},  # a second run of the monitor: nothing known in between
        {"e": "vm", "id": "v1", "up": False, "t": 201.0},
    ]
    api, vm = timeline.rows(events, now=210.0)
    assert api.label == "API read" and api.spans == [timeline.Span(101.0, 110.0, "up")]
    assert vm.label == "web-1 (10.0.0.1)"
    assert vm.spans == [timeline.Span(101.0, 105.0, "up"), timeline.Span(105.0, 106.5, "down"),
                        timeline.Span(106.5, 110.0, "up"), timeline.Span(201.0, 210.0, "down")]
    assert vm.down_seconds() == 10.5


def test_timeline_bands_from_the_journal_and_the_picture() -> None:
    journal = {"stages": {
        "stage0_preflight": {"status": "done", "started": "2026-01-01T00:00:00+00:00",
                             "ended": "2026-01-01T00:00:10+00:00",
                             "steps": {"baseline": {"status": "done", "started": "2026-01-01T00:00:02+00:00",
                                                    "ended": "2026-01-01T00:00:09+00:00"}}},
        "stage1_prepare": {"status": "failed", "started": "2026-01-01T00:00:11+00:00", "ended": None, "steps": {}}}}
    now = 1767225625.0  # 00:00:25
    stage0, stage1 = timeline.bands(journal, now)
    assert (stage0.name, stage0.end - stage0.start, stage0.steps[0].name) == ("stage0_preflight", 10.0, "baseline")
    assert stage1.status == "failed" and stage1.end == now
    png = timeline.render(timeline.Picture("t", [], [stage0, stage1], "no workload monitor record"))
    assert png.startswith(b"\x89PNG")


def test_many_vms_keep_the_worst_rows() -> None:
    rows = [timeline.Row(f"v{i}", f"vm-{i:03}", [timeline.Span(0, i, "down")]) for i in range(50)]
    shown, left_out = timeline.shown_rows(rows, limit=10)
    assert left_out == 40 and {r.key for r in shown} == {f"v{i}" for i in range(40, 50)}


def test_network_loads_are_found_and_embedded_data_is_not() -> None:
    analytics = '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    assert external_references(f"<html><head>{analytics}</head></html>")
    import base64

    css = base64.b64encode(b"body{background:url(https://cdn.example/x.png)}").decode()
    assert external_references(f'<link rel="stylesheet" href="data:text/css;base64,{css}">')
    clean = ('<html><body><a href="https://docs.example/">a link is not a load</a>'
             '<img src="data:image/png;base64,iVBORw0KGgo="><script>var ns="http://www.w3.org/2000/svg"</script>'
             '</body></html>')
    assert external_references(clean) == []


def test_allure_staging_lifts_the_stage_suites_to_the_top(tmp_path: Path) -> None:
    raw, staged = tmp_path / "raw", tmp_path / "staged"
    raw.mkdir()
    staged.mkdir()
    labels = [{"name": "parentSuite", "value": "runbook.stages"}, {"name": "suite", "value": "stage0_preflight"},
              {"name": "package", "value": "runbook.stages.stage0_preflight"}]
    (raw / "x-result.json").write_text(json.dumps({"name": "t", "labels": labels}))
    (raw / "y-attachment.txt").write_text("evidence")
    allure_html.stage_results(raw, staged)
    names = [label["name"] for label in json.loads((staged / "x-result.json").read_text())["labels"]]
    assert names == ["suite", "package"] and (staged / "y-attachment.txt").read_text() == "evidence"
    assert json.loads((raw / "x-result.json").read_text())["labels"] == labels  # the run's own results untouched


def test_compliance_page_shows_verdicts_checks_and_the_missing_monitor() -> None:
    requirement = reqs.Requirement("F-X", "Every <thing> kept", "DESIGN", (f"{STAGE0}::test_a", f"{STAGE0}::test_b"),
                                   figures=("vm_outages",))
    found = {f"{STAGE0}::test_a": Result(f"{STAGE0}::test_a", "failed", message="AssertionError: 2 != 3")}
    page = compliance.Page(title="T", target="lab", env=1, seed=2, generated="now",
                           verdicts=compliance.verdicts([requirement], found), stages=[], unplaced=[],
                           figures=None, monitor_note="No workload monitor record for env 1", timeline_png=b"\x89PNG",
                           sources=["Allure results"])
    html = compliance.render(page)
    assert "F-X" in html and ">failed<" in html and "AssertionError: 2 != 3" in html
    assert "Every &lt;thing&gt; kept" in html  # escaped
    assert "no workload monitor record" in html and "data:image/png;base64," in html
    assert external_references(html) == []


def test_report_of_a_run_that_has_not_started_says_so_and_names_the_allure_fix(tmp_path: Path) -> None:
    from runbook.report.build import Inputs, build

    built = {a.name: a for a in build(Inputs(tmp_path / "reports", tmp_path / "journal", 1, "lab"))}
    assert built["workload timeline"].error is None and built["workload timeline"].size > 0
    assert built["compliance report"].error is None
    html = (tmp_path / "reports" / "compliance.html").read_text()
    assert "nothing has run yet" in html and "No workload monitor record for env 1" in html
    assert "no Allure results" in built["Allure report"].error and "--alluredir" in built["Allure report"].error
