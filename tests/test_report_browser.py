"""The HTML report opened from disk in real headless Chromium (Debian's ``chromium`` package).

Playwright drives the system browser (``executable_path``; no browser download).  The page
must load without console errors or network requests, show a summary row per operation
and every chart with a real size, and look like something: the screenshot is not blank.
A report built from hostile names must not run any script.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, sync_playwright

from dalperf.cli import main
from dalperf.results import Results
from tests.test_report import XSS, _hostile_results, measure_case_study, render_html

BROWSERS = ("chromium", "chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}
MIN_COLOURS = 50  # a rendered page with text, tables and charts has hundreds


def chromium_path() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed: `apt-get install -y chromium` (Debian; "
                ".ci/run installs it) is needed for the browser test of the HTML report",
                pytrace=False)


@pytest.fixture(scope="module")
def results(seeded_db: str) -> Results:
    return measure_case_study(seeded_db)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh headless Chromium profile; closed after the test."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium_path(), headless=True,
            args=FLAGS, viewport=VIEWPORT)
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


def test_report_in_a_real_browser(results: Results, browser: BrowserContext,
                                  tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text(render_html(results))
    watched = Watched(browser)
    watched.open(report)
    page = watched.page

    assert watched.errors == []
    assert watched.requests == [report.resolve().as_uri()]  # nothing fetched besides itself

    operations = list(dict.fromkeys(m.operation for m in results.operations))
    shown = page.eval_on_selector_all("tr.summary-row",
                                      "rows => rows.map(r => r.dataset.operation)")
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


def test_hostile_report_runs_no_script(results: Results, browser: BrowserContext,
                                       tmp_path: Path) -> None:
    path = _hostile_results(results, tmp_path)
    assert main(["report", str(path), "--html", str(tmp_path / "hostile.html")]) == 0
    watched = Watched(browser)
    watched.open(tmp_path / "hostile.html")
    assert watched.dialogs == [] and watched.errors == []
    assert watched.page.locator("script").count() == 0
    assert XSS in watched.page.inner_text("#summary")  # shown as text, not run
