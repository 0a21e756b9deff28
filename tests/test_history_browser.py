"""The trends report opened from disk in real headless Chromium (Debian's ``chromium``).

As for the audit report (``tests/test_report_browser.py``, whose browser set-up this
reuses): playwright drives the system browser through ``executable_path`` (no browser
download), and a missing Chromium fails the test with the command that installs it.  At the
two common laptop and desktop widths the page must not scroll sideways, must show the
summary in the first screen, and must draw every change marker with a real size; nothing is
fetched and no script runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, sync_playwright

from dalperf.history.model import Point, SeriesKey
from dalperf.history.render import html_report
from dalperf.history.trends import build
from tests.test_history_trends import commits, history, series
from tests.test_report_browser import FLAGS, Watched, chromium_path

HOSTILE = "<img src=x onerror=alert(1)> Change"
LONG_NAME = "tests/integration/" + "deeply_nested_" * 10 + "test.py::test_render[" + "x" * 90 + "]"
VIEWPORTS = ({"width": 1366, "height": 768}, {"width": 1920, "height": 1080})
MIN_COLOURS = 50


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh headless Chromium profile at the test's viewport; closed after the test."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium_path(),
            headless=True,
            args=FLAGS,
            viewport=request.param,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.mark.parametrize(
    "browser", VIEWPORTS, indirect=True, ids=[f"{v['width']}x{v['height']}" for v in VIEWPORTS]
)
def test_trends_report_in_a_real_browser(browser: BrowserContext, tmp_path: Path) -> None:
    long = series(SeriesKey("plugin", LONG_NAME), commits(300), seed=3, latency=False)
    points = [_hostile(p) for p in history(300, 8) + long]
    trends = build(points)
    report = tmp_path / "trends.html"
    report.write_text(html_report(points))
    watched = Watched(browser)
    watched.open(report)
    page = watched.page
    viewport = page.viewport_size
    assert viewport is not None

    assert watched.errors == [] and watched.dialogs == []
    assert watched.requests == [report.resolve().as_uri()]  # nothing fetched besides itself
    assert page.locator("script").count() == 0

    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"

    page.screenshot(path=str(tmp_path / f"trends-{viewport['width']}-top.png"))
    summary = page.locator("#summary").bounding_box()
    assert summary is not None and summary["y"] + summary["height"] <= viewport["height"]
    tiles = page.eval_on_selector_all(
        "#summary .tile",
        "tiles => tiles.map(t => [t.dataset.summary, "
        "t.querySelector('.value').firstChild.textContent.trim()])",
    )
    assert tiles == [["series", "9"], ["commits", "300"], ["changes", "1"], ["shifts", "1"]]

    step = trends.commits[180]
    shift = trends.shifts[0]
    markers = page.locator("g.marker")
    assert markers.count() == 5
    assert sorted(
        page.eval_on_selector_all("g.marker", "gs => gs.map(g => g.dataset.sha)")
    ) == sorted([step.sha] * 4 + [shift.commit.sha])
    for index in range(markers.count()):
        box = markers.nth(index).bounding_box()
        assert box is not None and box["height"] > 40 and box["width"] > 10
    assert page.locator(f'tr.change-row[data-sha="{step.sha}"]').is_visible()
    assert step.sha[:7] in page.inner_text("#changes")
    assert "queries 1 → 21" in page.inner_text("#changes")
    assert page.locator(f'tr.shift-row[data-sha="{shift.commit.sha}"]').is_visible()
    assert HOSTILE in page.inner_text("#changes")  # shown as text, never run
    assert page.locator("img").count() == 0

    long_card = page.locator("section.series", has_text=LONG_NAME).bounding_box()
    assert long_card is not None and long_card["x"] + long_card["width"] <= viewport["width"]
    cards = page.eval_on_selector_all("section.series", "s => s.map(e => e.id)")
    assert cards[:2] == [trends.series[0].anchor, trends.series[1].anchor]
    shown = page.locator("svg.trend:visible")
    assert shown.count() == 6 + 4  # a latency chart per audit series; 4 figures changed
    for index in range(shown.count()):
        box = shown.nth(index).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 60
    # the flat lines of the figures that never changed are folded; opened, they show
    folded = page.locator("section.series", has_text=LONG_NAME).locator("details.unchanged")
    assert folded.locator("svg.trend:visible").count() == 0
    folded.locator("summary").click()
    assert folded.locator("svg.trend:visible").count() == 5
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"

    whole = tmp_path / f"trends-{viewport['width']}.png"
    page.screenshot(path=str(whole), full_page=True)
    image = Image.open(whole).convert("RGB")
    assert image.width == viewport["width"] and image.height > 2 * viewport["height"]
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > MIN_COLOURS
    assert max(count for count, _ in colours) < 0.9 * image.width * image.height


def _hostile(point: Point) -> Point:
    """``point`` with markup in its commit's subject, which must show as text."""
    commit = dataclasses.replace(
        point.commit, subject=point.commit.subject.replace("Change", HOSTILE)
    )
    return dataclasses.replace(point, commit=commit)
