"""The trends report: a self-contained HTML page and a Markdown digest, from history points.

The page follows the audit report (the same stylesheet, inlined; no script; nothing fetched
from outside the file): a summary, the pinned changes and latency shifts of the whole
history, then one card per series, those that changed first: a latency chart, a chart per
deterministic figure that changed, and one line naming the figures that never did.

The charts are inline SVG written here rather than by matplotlib as the audit report's
are: a history of 2,000 commits × 24 series has over a hundred charts, and matplotlib
spends a fifth of a second on each, past the report's 5 s budget.  Every text in them goes
through :func:`markupsafe.escape`.  Lines are bounded: a count is a step line with one
vertex per change (exact at any length), latency is drawn from at most
:data:`MAX_LINE_POINTS` buckets of consecutive commits (each the median of its commits'
figures; the p95 band spans their intervals), and every change marker is kept.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from dalperf.errors import UsageError
from dalperf.history.changes import LatencyShift
from dalperf.history.model import Point
from dalperf.history.trends import Marker, SeriesView, Trends, build, short_sha
from dalperf.rendering import environment
from dalperf.results import files

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["FORMATS", "html_report", "markdown_report", "write_report"]

FORMATS = {"html": "html", "md": "markdown", "markdown": "markdown"}
HTML_TEMPLATE = "trends.html.j2"
MARKDOWN_TEMPLATE = "trends.md.j2"

FIGURE_LABELS = {
    "queries": "queries",
    "round_trips": "round trips (depth)",
    "network_round_trips": "network round trips",
    "buffers": "buffers",
    "rows_fetched": "rows fetched",
    "plan_shapes": "plan shapes",
}
MAX_LINE_POINTS = 400  # latency vertices per line: about 3 px each across the chart
AXIS_QUANTILE = 0.98  # the latency axis ends near this quantile of the values drawn ...
AXIS_ROOM = 1.5  # ... times this (or at the highest value, if lower)
MAX_MARKDOWN_ROWS = 200  # per table: a GitHub step summary holds at most 1 MiB
MAX_PLAN_SHAPES = 6  # shapes listed per side of a change; the rest counted
MAX_SHAPE_LINES = 12  # lines shown of one plan shape (one node a line)
P50_COLOUR = "#0072B2"
P95_COLOUR = "#D55E00"
COUNT_COLOUR = "#1f2933"
SHIFT_COLOUR = "#CC79A7"
CHANGE_COLOUR = "#b42318"
GRID_COLOUR = "#e4e7eb"
MUTED_COLOUR = "#616e7c"


def write_report(points: Sequence[Point], out: Path, *, fmt: str = "html") -> None:
    """Write the trends report of ``points`` (oldest first) to ``out``, atomically, as
    ``fmt``: ``"html"``, or ``"md"``/``"markdown"`` for the Markdown digest."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}: use html or md")
    text = html_report(points) if FORMATS[fmt] == "html" else markdown_report(points)
    files.write_atomic(out, text, what="trends report")


def html_report(points: Sequence[Point]) -> str:
    """The self-contained HTML page of the trends of ``points``."""
    trends = build(points)
    return _environment().get_template(HTML_TEMPLATE).render(_context(trends))


def markdown_report(points: Sequence[Point]) -> str:
    """The Markdown digest (a summary line, the pinned changes and the latency shifts) of
    ``points``, for a GitHub step summary or a pull-request comment."""
    trends = build(points)
    return (
        _environment(markdown=True)
        .get_template(MARKDOWN_TEMPLATE)
        .render(_context(trends, max_rows=MAX_MARKDOWN_ROWS))
    )


def _context(trends: Trends, *, max_rows: int | None = None) -> dict[str, object]:
    """What the templates show, computed once."""
    markers = trends.markers()
    shifts = trends.shifts
    cards = [_card(view, len(trends.commits)) for view in trends.series] if max_rows is None else []
    return {
        "commits": trends.commits,
        "series": trends.series,
        "cards": cards,
        "markers": markers if max_rows is None else markers[:max_rows],
        "markers_left": 0 if max_rows is None else max(len(markers) - max_rows, 0),
        "shifts": shifts if max_rows is None else shifts[:max_rows],
        "shifts_left": 0 if max_rows is None else max(len(shifts) - max_rows, 0),
        "marker_count": len(markers),
        "shift_count": len(shifts),
        "changed_count": sum(1 for v in trends.series if v.changed),
        "anchors": {v.key: v.anchor for v in trends.series},
        "first": trends.commits[0] if trends.commits else None,
        "last": trends.commits[-1] if trends.commits else None,
    }


def _card(view: SeriesView, commits: int) -> dict[str, object]:
    """One series' card: its numbered markers, the charts of the figures that changed, and
    those of the figures that did not (shown folded: flat lines)."""
    markers = view.markers()
    labels = {id(m): f"C{number}" for number, m in enumerate(markers, start=1)}
    shift_labels = {id(s): f"L{number}" for number, s in enumerate(view.shifts, start=1)}
    changed = [f for f in view.figures() if any(f in m.figures for m in markers)]
    if any(not m.figures for m in markers):
        changed = changed or view.figures()[:1]  # a plan-only change is marked on a chart
    charts = []
    for position, figure in enumerate(changed):
        here = [m for m in markers if figure in m.figures or (position == 0 and not m.figures)]
        values = [getattr(p, figure) for p in view.points if getattr(p, figure) is not None]
        charts.append(
            {
                "figure": figure,
                "label": FIGURE_LABELS[figure],
                "first": values[0],
                "last": values[-1],
                "svg": count_chart(view, figure, [(m, labels[id(m)]) for m in here], commits),
            }
        )
    constant = [
        {
            "figure": f,
            "label": FIGURE_LABELS[f],
            "value": next(getattr(p, f) for p in view.points if getattr(p, f) is not None),
            "svg": count_chart(view, f, [], commits),
        }
        for f in view.figures()
        if f not in changed
    ]
    latency = None
    if view.has_latency():
        svg, above, highest = latency_chart(
            view, [(s, shift_labels[id(s)]) for s in view.shifts], commits
        )
        latency = {"svg": svg, "above": above, "highest": highest}
    return {
        "view": view,
        "markers": [(labels[id(m)], m) for m in markers],
        "shifts": [(shift_labels[id(s)], s) for s in view.shifts],
        "charts": charts,
        "constant": constant,
        "latency": latency,
    }


@functools.cache
def _environment(*, markdown: bool = False) -> Environment:
    """The templates' environment (:func:`dalperf.rendering.environment`) with this report's
    filters; made once per process, so its compiled templates are reused."""
    return environment(
        {
            "short": short_sha,
            "number": number,
            "ms": ms,
            "effect": effect,
            "change_text": change_text,
            "plans": plan_diff,
            "plan_text": plan_text,
            "day": lambda commit: commit.time.strftime("%Y-%m-%d"),
        },
        markdown=markdown,
    )


def number(value: float | None) -> str:
    """A figure as the report prints it: ``21``, ``1,024``, ``3.10``, ``86.0``; ``—`` if
    unknown."""
    if value is None or math.isnan(value):
        return "—"
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ms(value: float | None) -> str:
    """Milliseconds with their unit."""
    text = number(value)
    return text if text == "—" else f"{text} ms"


def effect(shift: LatencyShift) -> str:
    """``2.01× [1.95–2.07]``: the ratio of medians after / before and its interval."""
    ratio = shift.ratio
    return f"{ratio.value:.2f}× [{ratio.low:.2f}–{ratio.high:.2f}]"


def change_text(marker: Marker) -> str:
    """``queries 1 → 21; network round trips 2 → 22`` (or ``plan shapes`` alone)."""
    parts = [
        f"{FIGURE_LABELS[c.figure]} {number(c.before)} → {number(c.after)}"
        for c in marker.changes
        if c.before is not None
    ]
    return "; ".join(parts) or "plan shapes"


@dataclass(frozen=True, slots=True)
class PlanDiff:
    """The plan shapes that left and that came at a marker (at most
    :data:`MAX_PLAN_SHAPES` each, each cut to :data:`MAX_SHAPE_LINES` lines), how many more
    of each there were, and how many stayed."""

    gone: tuple[str, ...]
    gone_more: int
    new: tuple[str, ...]
    new_more: int
    kept: int


def plan_diff(marker: Marker) -> PlanDiff:
    """What changed in the plan shapes at ``marker``."""
    before, after = marker.plans_before, marker.plans_after
    gone = [s for s in before if s not in after]
    new = [s for s in after if s not in before]
    return PlanDiff(
        gone=tuple(_lines(s) for s in gone[:MAX_PLAN_SHAPES]),
        gone_more=max(len(gone) - MAX_PLAN_SHAPES, 0),
        new=tuple(_lines(s) for s in new[:MAX_PLAN_SHAPES]),
        new_more=max(len(new) - MAX_PLAN_SHAPES, 0),
        kept=sum(1 for s in after if s in before),
    )


def plan_text(marker: Marker) -> str:
    """The plan-shape change at ``marker`` on one line: ``−Seq Scan …; +Index Scan …``."""
    diff = plan_diff(marker)
    parts = [f"−{_clip(s)}" for s in diff.gone]
    parts += [f"−{diff.gone_more} more"] if diff.gone_more else []
    parts += [f"+{_clip(s)}" for s in diff.new]
    parts += [f"+{diff.new_more} more"] if diff.new_more else []
    return "; ".join(parts) or "unchanged"


def _lines(shape: str) -> str:
    """A plan shape cut to its first :data:`MAX_SHAPE_LINES` lines."""
    lines = shape.splitlines()
    if len(lines) <= MAX_SHAPE_LINES:
        return shape
    return "\n".join([*lines[:MAX_SHAPE_LINES], f"… {len(lines) - MAX_SHAPE_LINES} more lines"])


def _clip(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- charts ---------------------------------------------------------------------------------


class _Frame:
    """The plotting area of one chart: commit positions across, values up from zero."""

    def __init__(self, *, width: int, height: int, commits: int, top_value: float) -> None:
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = 58, 14, 24, 30
        self.commits = commits
        self.top_value = top_value if top_value > 0 else 1.0

    def x(self, position: float) -> float:
        span = max(self.commits - 1, 1)
        return round(self.left + position / span * (self.width - self.left - self.right), 1)

    def y(self, value: float) -> float:
        """The height of ``value``; values above the axis are drawn at its top."""
        inner = self.height - self.top - self.bottom
        return round(self.top + (1.0 - min(value, self.top_value) / self.top_value) * inner, 1)


def count_chart(
    view: SeriesView, figure: str, markers: Sequence[tuple[Marker, str]], commits: int
) -> Markup:
    """A deterministic figure of one series over the commits, as a step line, with a
    marker at each commit where it (or, on the first chart, only the plan) changed."""
    points = [
        (pos, float(getattr(p, figure)))
        for pos, p in zip(view.positions, view.points, strict=True)
        if getattr(p, figure) is not None
    ]
    frame = _Frame(
        width=600, height=150, commits=commits, top_value=_nice_top(max(v for _, v in points))
    )
    path = [f"M{frame.x(points[0][0])} {frame.y(points[0][1])}"]
    for (_, before), (position, value) in itertools.pairwise(points):
        if value != before:
            path.append(f"H{frame.x(position)}V{frame.y(value)}")
    path.append(f"H{frame.x(points[-1][0])}")
    body = [
        _axes(frame, view, ticks=4, whole=True),
        (f'<path d="{"".join(path)}" fill="none" stroke="{COUNT_COLOUR}" stroke-width="1.6"/>'),
    ]
    for marker, label in markers:
        title = f"{short_sha(marker.commit)} {marker.commit.subject}: {change_text(marker)}"
        body.append(
            _marker(
                frame,
                marker.position,
                label,
                title,
                CHANGE_COLOUR,
                sha=marker.commit.sha,
                kind="change",
            )
        )
    return _svg(frame, f"{FIGURE_LABELS[figure]} of {view.title} over {commits} commits", body)


def latency_chart(
    view: SeriesView, shifts: Sequence[tuple[LatencyShift, str]], commits: int
) -> tuple[Markup, int, float]:
    """p50 and p95 of one series over the commits, the p95 interval as a band, and a marker
    at each latency shift; with how many drawn values lie above the axis and the highest.

    The axis ends near :data:`AXIS_QUANTILE` of the drawn values (× :data:`AXIS_ROOM`)
    rather than at the slowest run, so that a few slow runs do not flatten the levels a
    shift is seen between; values above it are drawn at its top and counted in the
    caption."""
    rows = [
        _Bucket(pos, p.p50_ms, p.p95_ms, p.p95_low_ms, p.p95_high_ms)
        for pos, p in zip(view.positions, view.points, strict=True)
        if p.p50_ms is not None or p.p95_ms is not None
    ]
    buckets = list(_buckets(rows, MAX_LINE_POINTS))
    drawn = sorted(v for b in buckets for v in (b.p50, b.p95, b.low, b.high) if v is not None)
    highest = drawn[-1] if drawn else 1.0
    typical = drawn[min(int(AXIS_QUANTILE * len(drawn)), len(drawn) - 1)] if drawn else 1.0
    frame = _Frame(
        width=1200,
        height=230,
        commits=commits,
        top_value=_nice_top(min(highest, typical * AXIS_ROOM)),
    )
    above = sum(1 for v in drawn if v > frame.top_value)
    body = [_axes(frame, view, ticks=7, unit=" ms")]
    band = [
        (b.position, b.low, b.high) for b in buckets if b.low is not None and b.high is not None
    ]
    if band:
        upper = " ".join(f"{frame.x(x)},{frame.y(high)}" for x, _, high in band)
        lower = " ".join(f"{frame.x(x)},{frame.y(low)}" for x, low, _ in reversed(band))
        body.append(
            f'<polygon points="{upper} {lower}" fill="{P95_COLOUR}" '
            f'fill-opacity="0.16" stroke="none"/>'
        )
    for values, colour in (
        ([(b.position, b.p95) for b in buckets], P95_COLOUR),
        ([(b.position, b.p50) for b in buckets], P50_COLOUR),
    ):
        line = " ".join(f"{frame.x(x)},{frame.y(v)}" for x, v in values if v is not None)
        if line:
            body.append(
                f'<polyline points="{line}" fill="none" stroke="{colour}" '
                f'stroke-width="1.4" stroke-linejoin="round"/>'
            )
    body.append(_legend(frame))
    for shift, _ in shifts:
        first, last = (view.positions[i] for i in shift.window)
        at = view.positions[shift.index]
        for start, end, level in ((first, at, shift.before_ms), (at, last, shift.after_ms)):
            body.append(
                f'<line class="level" x1="{frame.x(start)}" x2="{frame.x(end)}" '
                f'y1="{frame.y(level)}" y2="{frame.y(level)}" stroke="{SHIFT_COLOUR}" '
                f'stroke-width="2" stroke-dasharray="6 3"/>'
            )
    for shift, label in shifts:
        title = (
            f"{short_sha(shift.commit)} {shift.commit.subject}: p50 {ms(shift.before_ms)}"
            f" → {ms(shift.after_ms)}, {effect(shift)}"
        )
        body.append(
            _marker(
                frame,
                view.positions[shift.index],
                label,
                title,
                SHIFT_COLOUR,
                sha=shift.commit.sha,
                kind="shift",
            )
        )
    return _svg(frame, f"latency of {view.title} over {commits} commits", body), above, highest


@dataclass(frozen=True, slots=True)
class _Bucket:
    """What the latency chart draws at one place: a commit's figures, or those of a run of
    consecutive commits."""

    position: float
    p50: float | None
    p95: float | None
    low: float | None
    high: float | None


def _buckets(rows: Sequence[_Bucket], limit: int) -> Iterable[_Bucket]:
    """``rows`` as they are when there are at most ``limit``, else ``limit`` runs of
    consecutive commits: each run drawn at its middle commit, with the medians of its p50
    and of its p95, its lowest p95 low and its highest p95 high."""
    size = max(1, math.ceil(len(rows) / limit))
    if size == 1:
        yield from rows
        return
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        yield _Bucket(
            position=chunk[len(chunk) // 2].position,
            p50=_median([b.p50 for b in chunk]),
            p95=_median([b.p95 for b in chunk]),
            low=min((b.low for b in chunk if b.low is not None), default=None),
            high=max((b.high for b in chunk if b.high is not None), default=None),
        )


def _median(values: Iterable[float | None]) -> float | None:
    """The median of the known ``values`` (``None`` when none is known)."""
    known = sorted(v for v in values if v is not None)
    if not known:
        return None
    middle = len(known) // 2
    return known[middle] if len(known) % 2 else (known[middle - 1] + known[middle]) / 2


def _nice_top(value: float) -> float:
    """The top of the value axis: ``value`` rounded up to 1, 2, 2.5 or 5 × a power of ten
    (and at least 1), so the tick labels are round."""
    if value <= 1:
        return 1.0
    scale = 10 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * scale:
            return step * scale
    return 10.0 * scale


def _axes(
    frame: _Frame, view: SeriesView, *, ticks: int, unit: str = "", whole: bool = False
) -> str:
    """Horizontal grid lines with value labels (at whole numbers only when ``whole``), and
    commit labels (short sha and date) along the bottom."""
    parts = []
    steps = next(s for s in (4, 2, 1) if frame.top_value % s == 0) if whole else 4
    for step in range(steps + 1):
        value = frame.top_value * step / steps
        y = frame.y(value)
        parts.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y}" '
            f'y2="{y}" stroke="{GRID_COLOUR}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{frame.left - 6}" y="{y + 3.5}" text-anchor="end">'
            f"{value:,g}{unit if step == steps else ''}</text>"
        )
    if view.positions:
        first, last = view.positions[0], view.positions[-1]
        count = min(ticks, len(view.positions))
        chosen = sorted(
            {
                view.positions[round(i * (len(view.positions) - 1) / max(count - 1, 1))]
                for i in range(count)
            }
        )
        for position in chosen:
            point = view.points[view.positions.index(position)]
            anchor = (
                "start"
                if position == first and count > 1
                else "end"
                if position == last and count > 1
                else "middle"
            )
            parts.append(
                f'<text x="{frame.x(position)}" y="{frame.height - 10}" '
                f'text-anchor="{anchor}" fill="{MUTED_COLOUR}">'
                f"{escape(short_sha(point.commit))} "
                f"{point.commit.time.strftime('%Y-%m-%d')}</text>"
            )
    return "".join(parts)


def _legend(frame: _Frame) -> str:
    x, y = frame.left + 8, frame.top - 10
    return (
        f'<g class="legend"><rect x="{x}" y="{y - 6}" width="14" height="3" '
        f'fill="{P50_COLOUR}"/><text x="{x + 18}" y="{y}">p50</text>'
        f'<rect x="{x + 52}" y="{y - 6}" width="14" height="3" fill="{P95_COLOUR}"/>'
        f'<text x="{x + 70}" y="{y}">p95</text>'
        f'<rect x="{x + 104}" y="{y - 8}" width="14" height="8" fill="{P95_COLOUR}" '
        f'fill-opacity="0.16"/><text x="{x + 122}" y="{y}">p95 interval</text></g>'
    )


def _marker(
    frame: _Frame, position: int, label: str, title: str, colour: str, *, sha: str, kind: str
) -> str:
    """A vertical line at ``position`` with its label above; hovering shows ``title``."""
    x = frame.x(position)
    width = 8 + 7 * len(label)
    return (
        f'<g class="marker" data-kind="{kind}" data-sha="{escape(sha)}">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{x}" x2="{x}" y1="{frame.top - 2}" y2="{frame.height - frame.bottom}" '
        f'stroke="{colour}" stroke-width="1.3" stroke-dasharray="4 3"/>'
        f'<rect x="{x - width / 2}" y="{frame.top - 17}" width="{width}" height="15" '
        f'rx="3" fill="{colour}"/><text x="{x}" y="{frame.top - 6}" text-anchor="middle" '
        f'fill="#ffffff" font-weight="600">{escape(label)}</text></g>'
    )


def _svg(frame: _Frame, title: str, body: Sequence[str]) -> Markup:
    """The chart as an inline ``<svg>``, scaled to its box and labelled for assistive
    technology."""
    return Markup(
        f'<svg class="chart trend" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {frame.width} {frame.height}" '
        f'font-size="11" '
        f'font-family="-apple-system, Segoe UI, Roboto, Arial, sans-serif" '
        f'fill="{COUNT_COLOUR}">{"".join(body)}</svg>'
    )
