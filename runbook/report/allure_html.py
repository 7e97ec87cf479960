"""The Allure HTML report: one self-contained file, generated offline, checked for network loads.

Allure 2's command line (npm `allure-commandline`, pinned in tools/allure/, installed by
`make allure`; it runs on the machine's Java 17) writes it:

    ALLURE_NO_ANALYTICS=true allure generate --single-file --clean RESULTS -o reports/allure-report

`--single-file` because the multi-file report fetches its data with XHR, which browsers refuse
from file://; ALLURE_NO_ANALYTICS must be exactly `true`, or the page loads an analytics script.
The result is then searched for any network load (`runbook.report.offline`): a report that
would call out is an error, not a warning.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from runbook.errors import ReportError
from runbook.report.offline import external_references

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "tools" / "allure" / "node_modules" / ".bin" / "allure"
ENV_VAR = "OCTANE_ALLURE"  # another allure command (path) to use instead of the bundled one
TIMEOUT = 300.0  # seconds: Java starts in a few, a large run's results take a minute
INSTALL_FIX = "run `make allure` (npm ci in tools/allure; needs node and Java 17), or set OCTANE_ALLURE to an allure 2 command"


def allure_command() -> Path:
    """The allure command: $OCTANE_ALLURE, else tools/allure's, else one on PATH; refused with the fix."""
    chosen = os.environ.get(ENV_VAR)
    if chosen:
        if not (Path(chosen).is_file() and os.access(chosen, os.X_OK)):
            raise ReportError(f"${ENV_VAR} names {chosen}, which is not an executable file", INSTALL_FIX)
        return Path(chosen)
    if BUNDLED.is_file():
        return BUNDLED
    found = shutil.which("allure")
    if found:
        return Path(found)
    raise ReportError("the Allure command line is not installed", INSTALL_FIX)


def generate(results: Path, out: Path, timeout: float = TIMEOUT) -> Path:
    """Generate the single-file report of `results` into the folder `out`; its index.html."""
    if not any(Path(results).glob("*-result.json")):
        raise ReportError(f"no Allure results in {results}",
                          "run the stages with --alluredir (make upgrade and octane do) before the report")
    command = allure_command()
    env = {**os.environ, "ALLURE_NO_ANALYTICS": "true"}
    with tempfile.TemporaryDirectory(prefix="octane-allure-") as staged:
        stage_results(Path(results), Path(staged))
        argv = [str(command), "generate", "--single-file", "--clean", staged, "-o", str(out)]
        proc = _run(argv, env, timeout)
    page = Path(out) / "index.html"
    if proc.returncode != 0 or not page.is_file():
        said = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ReportError(f"allure generate exited {proc.returncode}: {' / '.join(said) or 'no output'}",
                          "check java -version (17 or later) and the allure command (make allure)")
    check_offline(page)
    return page


def _run(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ReportError(f"allure generate did not finish within {timeout:.0f} s",
                          "check that Java 17 runs (java -version) and the results folder is readable") from None
    except OSError as exc:
        raise ReportError(f"allure generate could not start: {exc}", INSTALL_FIX) from None


def stage_results(results: Path, staged: Path) -> None:
    """A copy of the results for the page, each stage its own top-level suite.

    allure-pytest files every test under a parent suite named after its package
    (`runbook.stages`), so the report's suite tree and overview would show one folded entry
    instead of the stages. The copy drops that package-derived label (and only that one); the
    results the runs wrote are left as they are."""
    for path in results.iterdir():
        if not path.is_file():
            continue
        if path.name.endswith("-result.json"):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
            if isinstance(data, dict):
                data["labels"] = [label for label in data.get("labels") or [] if not _package_parent(label, data)]
                (staged / path.name).write_text(json.dumps(data), encoding="utf-8")
                continue
        shutil.copy2(path, staged / path.name)


def _package_parent(label: dict[str, Any], result: dict[str, Any]) -> bool:
    if label.get("name") != "parentSuite":
        return False
    packages = [x.get("value") for x in result.get("labels") or [] if x.get("name") == "package"]
    return any(str(p).startswith(f"{label.get('value')}.") for p in packages)


def check_offline(page: Path) -> None:
    """Refuse a report that would load anything from the network (the file is removed)."""
    found = external_references(page.read_text(encoding="utf-8", errors="replace"))
    if found:
        page.unlink()
        raise ReportError(f"{page} would load from the network: {'; '.join(sorted(set(found))[:5])}",
                          "generate it with ALLURE_NO_ANALYTICS=true and --single-file (runbook.report.allure_html)")
