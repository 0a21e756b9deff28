"""Rendering: the report's templates (jinja2) filled from the section context, written to disk.

The HTML is one self-contained file: the stylesheet is inlined, the charts are inline
``<svg>``, and nothing refers to a URL outside the file, so it works offline and as a mail
attachment.  Autoescaping is on for the HTML templates, so every name, statement and
message read from a results file is escaped; the only markup passed through unescaped is
matplotlib's SVG (whose text matplotlib escapes) and ``code`` spans the :func:`rst` filter
builds from already-escaped text.  The Markdown template (the verdict and the summary
table, for a pull-request comment) escapes every expression with
:func:`dalperf.rendering.md` instead (its ``finalize``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from dalperf.errors import first_line
from dalperf.gate.check import Verdict
from dalperf.project.budgets import BudgetSet
from dalperf.rendering import environment
from dalperf.report import sections
from dalperf.results import files
from dalperf.results.load import LoadResults
from dalperf.results.model import Results
from dalperf.results.stats import Ratio

if TYPE_CHECKING:
    from jinja2 import Environment

HTML_TEMPLATE = "report.html.j2"
MARKDOWN_TEMPLATE = "report.md.j2"

_RST_LITERAL = re.compile(r"``(.+?)``")


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """The report in both forms."""

    html: str
    markdown: str


def render(
    results: Results,
    *,
    verdict: Verdict,
    budgets: BudgetSet,
    baseline: str | None = None,
    load: LoadResults | None = None,
    beside: Sequence[Results] = (),
) -> Rendered:
    """The HTML report and its Markdown digest for ``results`` and the gate's ``verdict``.

    ``budgets`` is the set the verdict was evaluated with (each variant's section lists its
    limits); ``baseline`` names the baseline it was compared with, if any; ``load``, a load
    test's results, adds the load-test section; ``beside``, results of the same operations
    through other drivers, the drivers section.
    """
    values = sections.context(
        results, verdict, budgets, baseline=baseline, load=load, beside=beside
    )
    return Rendered(
        html=_environment().get_template(HTML_TEMPLATE).render(values),
        markdown=_environment(markdown=True).get_template(MARKDOWN_TEMPLATE).render(values),
    )


def write(
    rendered: Rendered, *, html: Path | None = None, markdown: Path | None = None
) -> list[Path]:
    """Write the forms asked for (atomically, like the results file); return the paths."""
    written = []
    for path, text in ((html, rendered.html), (markdown, rendered.markdown)):
        if path is None:
            continue
        files.write_atomic(path, text, what="report")
        written.append(path)
    return written


def _environment(*, markdown: bool = False) -> Environment:
    """The templates' environment (:func:`dalperf.rendering.environment`) with this
    report's filters: the HTML one, or with ``markdown`` the Markdown one."""
    return environment(
        {
            "ms": ms,
            "number": number,
            "fewer": fewer,
            "faster": faster,
            "ratio": ratio,
            "times": times,
            "rst": rst,
            "first_line": first_line,
            "claim": claim,
        },
        markdown=markdown,
    )


def ms(value: float) -> str:
    """Milliseconds with a unit: 0.42 ms, 3.10 ms, 86.0 ms, 2,500 ms."""
    text = number(value)
    return text if text == "—" else f"{text} ms"


def number(value: float) -> str:
    """Three significant figures or so: 0.42, 3.10, 86.0, 2,500."""
    if value is None or math.isnan(value):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fewer(percent: float) -> str:
    """A count's change: ``40% fewer``, ``12% more``, ``same``."""
    return _change(percent, better="fewer", worse="more")


def faster(percent: float) -> str:
    """A time's change: ``40% faster``, ``12% slower``, ``same``."""
    return _change(percent, better="faster", worse="slower")


def _change(percent: float, *, better: str, worse: str) -> str:
    """``percent`` (positive is better) in words; ``same`` when it rounds to 0."""
    if math.isnan(percent):
        return "—"
    if round(percent) == 0:
        return "same"
    return f"{percent:.0f}% {better}" if percent > 0 else f"{-percent:.0f}% {worse}"


def times(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}×"


def ratio(value: Ratio) -> str:
    """``4.97× [4.81–5.14]``: the ratio and its interval."""
    if math.isnan(value.value):
        return "—"
    return f"{value.value:.2f}× [{value.low:.2f}–{value.high:.2f}]"


def rst(text: str) -> Markup:
    """Escape ``text``, then show its reStructuredText literals (````x````) as ``<code>``."""
    return Markup(_RST_LITERAL.sub(r"<code>\1</code>", str(escape(text))))


def claim(figures: Mapping[str, Any]) -> str:
    """A claim as prose: ``800 ms, 4-5 queries (sequential)``; unknown keys as ``key value``."""
    parts = []
    for key, value in figures.items():
        if key == "wall_ms":
            parts.append(f"{value} ms")
        elif key == "queries":
            parts.append(f"{value} {'query' if value == 1 else 'queries'}")
        elif key != "note":
            parts.append(f"{key} {value}")
    text = ", ".join(parts)
    return f"{text} ({figures['note']})" if "note" in figures else text
