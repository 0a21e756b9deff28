"""The plugin's suite HTML report (``--dalperf-html``), from a real pytest session, read in
real headless Chromium (Debian's ``chromium`` package, driven by playwright; no download).

A reader must see the verdict without scrolling, the page must not scroll sideways at the
widths people review on (1,366 and 1,920 px), and a test whose statements are long stays one
line tall until its row is opened.  Screenshots are saved in the test's own tmp folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, sync_playwright

from dalperf.db import urls
from tests.test_report_browser import FLAGS, Watched, chromium_path

pytest_plugins = ["pytester"]

SCREENS = ({"width": 1366, "height": 768}, {"width": 1920, "height": 1080})
ROW_MAX_PX = 40  # a closed row: one line of text and its padding
TESTS = 36
LONG_NAME = "test_" + "a_really_descriptive_name_" * 5

SUITE = """
import os

import pytest
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["REPORT_URL"])
LONG = "SELECT " + ", ".join(f"(:x + {i}) AS column_number_{i}" for i in range(120))


@pytest.mark.parametrize("n", range(TESTS))
def test_long_statement(n):
    with engine.connect() as connection:
        for _ in range(n % 4 + 1):
            connection.execute(text(LONG), {"x": n})


def test_repeats():
    with engine.connect() as connection:
        for i in range(8):
            connection.execute(text("SELECT :i AS value"), {"i": i})


@pytest.mark.dalperf_allow("repeated-statement:*")
def LONG_NAME():
    with engine.connect() as connection:
        for i in range(6):
            connection.execute(text("SELECT :i + 1 AS value"), {"i": i})
""".replace("TESTS", str(TESTS)).replace("LONG_NAME", LONG_NAME)


@pytest.fixture
def report(pytester: pytest.Pytester, fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The suite report of a real inner session: long SQL, one new finding, one allowed."""
    monkeypatch.setenv("REPORT_URL", urls.sqlalchemy_url(urls.parse(fresh_db)))
    pytester.makepyfile(test_app=SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--dalperf-html", "suite.html")
    result.assert_outcomes(passed=TESTS + 1, failed=1)
    return pytester.path / "suite.html"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh headless Chromium profile; closed after the test."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium_path(),
            headless=True,
            args=FLAGS,
            viewport=SCREENS[0],
        )
        try:
            yield context
        finally:
            context.close()


def _in_first_screen(page: Page, selector: str, height: int) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None and box["height"] > 0, selector
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box, height)


def test_suite_report_reads_at_review_widths(
    report: Path, browser: BrowserContext, tmp_path: Path
) -> None:
    watched = Watched(browser)
    page = watched.page
    for screen in SCREENS:
        page.set_viewport_size(screen)
        watched.open(report)
        assert watched.errors == [] and watched.dialogs == []
        assert set(watched.requests) == {report.resolve().as_uri()}  # no CDN, no network
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= screen["width"], f"page scrolls sideways: {width} > {screen['width']}"

        headline = page.inner_text("#verdict .headline")
        assert f"{TESTS + 2} test bodies captured" in headline
        assert "1 new finding" in headline and "1 allowed" in headline
        for part in ("#verdict .headline", "#by-kind", "#top-queries", "#top-network"):
            _in_first_screen(page, part, screen["height"])
        assert page.locator("#top-queries tbody tr").count() == 10
        top = page.locator("#top-queries tbody tr").first.inner_text()
        assert "test_repeats" in top and "8" in top  # 8 statements: more than any other
        kinds = page.inner_text("#by-kind")
        assert "repeated-statement" in kinds

        findings = page.locator("#findings details")
        assert findings.count() == 2
        first = findings.first.locator("summary").inner_text()
        assert first.startswith("new") and "test_app.py::test_repeats" in first
        assert "at test_app.py:" in first  # the call site

        rows = page.locator("#tests tbody tr")
        assert rows.count() == TESTS + 2
        heights = page.eval_on_selector_all(
            "#tests tbody tr", "rows => rows.map(r => r.getBoundingClientRect().height)"
        )
        assert max(heights) <= ROW_MAX_PX, heights
        page.screenshot(path=str(tmp_path / f"suite-{screen['width']}.png"))

        row = rows.nth(3)
        closed = row.bounding_box()
        row.locator("td").nth(9).locator("summary").click()
        page.wait_for_function(
            "r => r.cells[9].querySelector('details').open", arg=row.element_handle()
        )
        opened = row.bounding_box()
        assert closed is not None and opened is not None and opened["height"] > closed["height"]
        cell = row.locator("td").nth(9)
        assert "column_number_" in cell.inner_text()
        assert cell.evaluate(
            "c => [...c.querySelectorAll('pre')].every(p => p.scrollWidth <= p.clientWidth)"
        )  # the SQL wraps
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= screen["width"], f"an opened row scrolls sideways: {width}"
        page.screenshot(path=str(tmp_path / f"suite-{screen['width']}-open.png"), full_page=True)

    image = Image.open(tmp_path / "suite-1366.png").convert("RGB")
    assert (image.width, image.height) == (1366, 768)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20  # text and tables, not a blank page
