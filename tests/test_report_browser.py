"""The HTML report opened from disk in real headless Chromium (Debian's ``chromium`` package).

Playwright drives the system browser (``executable_path``; no browser download).  The page
must load without console errors or network requests, show a summary row per operation
and every chart with a real size, and look like something: the screenshot is not blank.
A report built from hostile names must not run any script.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, sync_playwright

from dalperf.cli import main
from dalperf.results.model import Results
from tests.test_report import XSS, _hostile_results, measure_case_study, render_html

BROWSERS = ("chromium", "chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
MIN_COLOURS = 50  # a rendered page with text, tables and charts has hundreds


MISSING = (
    "Chromium is not installed: `apt-get install chromium` (Debian; .ci/run installs "
    "it) is needed for the browser test of the HTML report"
)


def chromium_path() -> str:
    """The system Chromium; without one, the browser tests skip on a developer's machine and
    fail in CI (``CI`` set), where .ci/run installs it and a skip would hide a broken job."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail(MISSING, pytrace=False)
    pytest.skip(MISSING)


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> str:
    """Looked for before the module's fixtures measure anything."""
    return chromium_path()


@pytest.fixture(scope="module")
def results(seeded_db: str) -> Results:
    return measure_case_study(seeded_db)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh headless Chromium profile; closed after the test."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium_path(),
            headless=True,
            args=FLAGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


class Watched:
    """A page with its console errors, uncaught exceptions, dialogs and requests recorded."""

    def __init__(self, context: BrowserContext) -> None:
        self.page: Page = context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._dialog)
        self.page.on("request", lambda request: self.requests.append(request.url))

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    def open(self, path: Path) -> None:
        self.page.goto(path.resolve().as_uri(), wait_until="load")


def test_report_in_a_real_browser(
    results: Results, browser: BrowserContext, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    report.write_text(render_html(results))
    watched = Watched(browser)
    watched.open(report)
    page = watched.page

    assert watched.errors == []
    assert watched.requests == [report.resolve().as_uri()]  # nothing fetched besides itself

    operations = list(dict.fromkeys(m.operation for m in results.operations))
    shown = page.eval_on_selector_all(
        "tr.summary-row", "rows => rows.map(r => r.dataset.operation)"
    )
    assert shown == operations
    for name in operations:
        assert page.locator(f'tr.summary-row[data-operation="{name}"] td').count() >= 8

    charts = page.locator("svg.chart")
    assert charts.count() == len(operations) + 1
    for index in range(charts.count()):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 80
        assert charts.nth(index).locator("text").count() >= 4  # axis and variant labels

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    image = Image.open(shot).convert("RGB")
    assert image.width >= VIEWPORT["width"] and image.height > 3 * VIEWPORT["height"]
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > MIN_COLOURS
    assert max(count for count, _ in colours) < 0.9 * image.width * image.height


def test_hostile_report_runs_no_script(
    results: Results, browser: BrowserContext, tmp_path: Path
) -> None:
    path = _hostile_results(results, tmp_path)
    assert main(["report", str(path), "--html", str(tmp_path / "hostile.html")]) == 0
    watched = Watched(browser)
    watched.open(tmp_path / "hostile.html")
    assert watched.dialogs == [] and watched.errors == []
    assert watched.page.locator("script").count() == 0
    assert XSS in watched.page.inner_text("#summary")  # shown as text, not run


def test_pytest_suite_report_sorts_in_a_real_browser(
    browser: BrowserContext, tmp_path: Path
) -> None:
    from dalperf.pytest_support.recorder import TestRecord
    from dalperf.pytest_support.settings import Settings
    from dalperf.pytest_support.suite import Suite

    suite = Suite(settings=Settings(thresholds={}, rtt_ms=20.0))
    finding = {
        "kind": "lazy-load",
        "label": XSS,
        "count": 20,
        "objects": 20,
        "call_site": "app.py:3 in f",
        "sql": "SELECT 1",
        "fix": f"selectinload({XSS})",
        "message": "m",
        "db_ms": 1.0,
        "status": "new",
        "file": "app.py",
        "line": 3,
    }
    for name, queries, findings in (
        ("test_b", 26, [finding]),
        ("test_a", 2, []),
        ("test_c", 9, []),
    ):
        suite.add(
            TestRecord(
                test=f"t.py::{name}",
                queries=queries,
                round_trips=queries,
                network_round_trips=queries + 2,
                rows_fetched=queries,
                db_ms=1.5,
                findings=findings,
                slowest=[{"sql": "SELECT 1", "ms": 0.5, "call_site": None}],
                unsupported=[],
            )
        )
    report = tmp_path / "suite.html"
    report.write_text(suite.html())
    watched = Watched(browser)
    watched.open(report)
    page = watched.page
    assert watched.errors == [] and watched.dialogs == []
    assert watched.requests == [report.resolve().as_uri()]

    def order() -> list[str]:
        return page.eval_on_selector_all(
            "#tests tbody tr", "rows => rows.map(r => r.cells[0].textContent.trim())"
        )

    # by test id, whatever order (or xdist worker) ran them
    assert order() == ["t.py::test_a", "t.py::test_b", "t.py::test_c"]
    page.click("#tests th:nth-child(3)")  # queries, descending first
    assert order() == ["t.py::test_b", "t.py::test_c", "t.py::test_a"]
    page.click("#tests th:nth-child(3)")
    assert order() == ["t.py::test_a", "t.py::test_c", "t.py::test_b"]
    page.click("#tests th:nth-child(1)")
    assert order() == ["t.py::test_c", "t.py::test_b", "t.py::test_a"]
    assert page.locator("#tests tbody tr").nth(1).locator("td").nth(5).inner_text() == "560"
    assert XSS in page.inner_text("#tests")  # shown as text, never run
