"""What the audit report and the trends report render with: one jinja environment on the
report templates, and text made inert inside Markdown.

Both renderers (:mod:`dalperf.report.render`, :mod:`dalperf.history.render`) fill templates
of :mod:`dalperf.reports` the same way: the HTML templates autoescaped, the Markdown ones
with every ``{{ expression }}`` passed through :func:`md` (the way autoescaping escapes
every expression of the HTML), so nothing read from data is written raw.  The two renderers
sit side by side and never import each other, so what they share lives here, below both.
jinja2 is imported by this module alone, which only the renderers import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

__all__ = ["TEMPLATES_PACKAGE", "environment", "md"]

TEMPLATES_PACKAGE = "dalperf.reports"

_MARKDOWN_SPECIAL = str.maketrans(
    {
        "|": "\\|",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "\n": " ",
        "\r": " ",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
    }
)


def md(value: Any) -> str:
    """``value`` made inert inside a Markdown table cell: no markup, no HTML, no new lines."""
    return str(value).translate(_MARKDOWN_SPECIAL)


def environment(
    filters: Mapping[str, Callable[..., Any]], *, markdown: bool = False
) -> Environment:
    """The templates' environment with ``filters`` (and ``md``) registered: for the
    ``*.html.j2`` templates autoescaped, or with ``markdown`` for the ``*.md.j2`` ones, with
    :func:`md` as the ``finalize`` of every expression.  Undefined names raise, and a
    template's trailing new line is kept."""
    made = Environment(
        loader=PackageLoader(TEMPLATES_PACKAGE, "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html.j2",), disabled_extensions=("md.j2",), default=True
        ),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        finalize=md if markdown else None,
    )
    made.filters.update(filters, md=md)
    return made
