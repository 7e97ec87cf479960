"""The reports of a real run (stages 0 and 1, monitor on) render in headless Chromium from file://
with no network: a screenshot that is not blank, and the text a reader must see."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runbook.report.offline import external_references
from tests.report import browser
from tests.report.conftest import Built

pytestmark = pytest.mark.xdist_group("reports")
MIN_INK = 0.02  # share of the screenshot that is not background: a rendered page has far more


def test_octane_report_writes_every_report(built_reports: Built) -> None:
    reports = built_reports.reports
    for name in ("timeline.png", "compliance.html", "allure-report/index.html", "junit.xml"):
        path = reports / name
        assert path.is_file() and path.stat().st_size > 0, f"{name} missing:\n{built_reports.output}"
    assert "reports built in" in built_reports.output
    for page in ("compliance.html", "allure-report/index.html"):
        assert external_references((reports / page).read_text()) == [], page


def test_compliance_report_renders_requirements_and_verdicts(built_reports: Built,
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    work = tmp_path_factory.mktemp("chromium-compliance")
    page = browser.render(built_reports.reports / "compliance.html", work / "compliance.png", work / "profile")
    assert browser.ink(page.screenshot) > MIN_INK, f"blank screenshot: {page.screenshot}"
    text = page.text
    assert "Upgrade compliance report" in text
    # Stages 0 and 1 ran and passed; stage 5 did not run; F-VM's later checks did not run.
    for requirement, verdict in (("S0-PREFLIGHT", "proved"), ("S1-PREPARE", "proved"),
                                 ("S5-UPGRADE-CONTROL", "not run"), ("F-VM", "incomplete")):
        assert re.search(rf"{requirement} {verdict} ", text), f"{requirement} is not shown {verdict}"
    assert "stage0_preflight.py::test_precondition[free_nodes] passed" in text
    assert "Workload monitor record from" in text and "VM(s) probed over TCP" in text
    assert 'src="data:image/png;base64,' in page.dom  # the timeline, embedded


def test_allure_report_renders_the_stage_suites(built_reports: Built, tmp_path_factory: pytest.TempPathFactory) -> None:
    work = tmp_path_factory.mktemp("chromium-allure")
    page = browser.render(built_reports.reports / "allure-report" / "index.html", work / "allure.png",
                          work / "profile")
    assert browser.ink(page.screenshot) > MIN_INK, f"blank screenshot: {page.screenshot}"
    text = page.text
    assert "test cases" in text and "Suites" in text, text[:2000]
    assert "stage0_preflight" in text and "stage1_prepare" in text, text[:2000]


def test_timeline_picture_is_drawn(built_reports: Built) -> None:
    from PIL import Image

    path: Path = built_reports.reports / "timeline.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 1200
        # The API row and one row per baseline VM: taller than the picture of no rows.
        assert image.height >= 500, image.size
    assert browser.ink(path) > MIN_INK
