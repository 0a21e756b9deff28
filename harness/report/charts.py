"""The report's charts, drawn by matplotlib and inlined as ``<svg>`` markup.

Figures are built with the object-oriented API (no pyplot, no global figure state) and
saved with the SVG backend into a string.  Text stays text (``svg.fonttype = none``),
which keeps the files small and lets the page's fonts render it; matplotlib escapes it
as XML, so names taken from a results file cannot inject markup.  The XML prolog, the
DOCTYPE (which names a DTD by URL) and the metadata block (which names URLs) are left
out: the report must not reference anything outside itself, and so are the ids matplotlib
gives its groups, which would repeat from chart to chart.  ``svg.hashsalt`` is fixed so
the same results always give byte-identical charts (and equal ids mean equal content).

Colours follow the variant's role: the reference ("before") in vermilion, ours in blue,
variants in between in the Okabe-Ito colour-blind-safe palette.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from markupsafe import Markup, escape
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.typing import RcKeyType

from dalperf.report.tables import RttSweep, SummaryRow

BEFORE_COLOUR = "#D55E00"
OURS_COLOUR = "#0072B2"
OTHER_COLOURS = ("#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442")
TEXT_COLOUR = "#1f2933"
GRID_COLOUR = "#d9dee3"
WIDTH_IN = 9.0
ROW_IN = 0.42
LOG_SCALE_SPREAD = 5.0  # use a log axis when the slowest median is this many times the fastest
JITTER = 0.13
MAX_POINTS = 500  # samples drawn as dots per variant; more are summarised as quantiles

_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "dalperf",
    "font.family": "sans-serif",
    "font.sans-serif": ["Inter", "Segoe UI", "Helvetica Neue", "Arial", "DejaVu Sans"],
    "font.size": 9,
    "axes.edgecolor": GRID_COLOUR,
    "axes.labelcolor": TEXT_COLOUR,
    "xtick.color": TEXT_COLOUR,
    "ytick.color": TEXT_COLOUR,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
# matplotlib names every group (figure_1, axes_1, ...): ids that would repeat across the
# charts of one page.  Only the content-hashed ids of markers and clip paths are referenced.
_STRUCTURAL_ID = re.compile(r'\sid="(?![mp][0-9a-f]{10}")[^"]*"')


def colours(order: Sequence[str]) -> dict[str, str]:
    """A colour per variant of one operation, by role (before, in between, ours)."""
    result = {}
    for index, variant in enumerate(order):
        if index == 0:
            result[variant] = BEFORE_COLOUR
        elif index == len(order) - 1:
            result[variant] = OURS_COLOUR
        else:
            result[variant] = OTHER_COLOURS[(index - 1) % len(OTHER_COLOURS)]
    return result


def latency_chart(samples: Mapping[str, Sequence[float]], *, title: str) -> Markup:
    """Box plot of each variant's wall-time samples, every sample drawn over it."""
    order = list(samples)
    palette = colours(order)
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(WIDTH_IN, 0.75 + ROW_IN * len(order)), layout="constrained")
        axes = figure.add_subplot()
        drawn = [v for v in order if samples[v]]
        positions = [len(order) - 1 - order.index(v) for v in drawn]
        if drawn:
            boxes = axes.boxplot(
                [samples[v] for v in drawn],
                positions=positions,
                orientation="horizontal",
                widths=0.55,
                showfliers=False,
                patch_artist=True,
                medianprops={"color": TEXT_COLOUR},
            )
            for patch, variant in zip(boxes["boxes"], drawn, strict=True):
                patch.set_facecolor(palette[variant] + "33")
                patch.set_edgecolor(palette[variant])
            for variant, position in zip(drawn, positions, strict=True):
                points = drawn_points(samples[variant])
                offsets = [position + JITTER * math.sin(1.7 * i) for i in range(len(points))]
                axes.scatter(
                    points, offsets, s=9, color=palette[variant], alpha=0.7, linewidths=0, zorder=3
                )
            medians = [sorted(samples[v])[len(samples[v]) // 2] for v in drawn]
            if min(medians) > 0 and max(medians) / min(medians) >= LOG_SCALE_SPREAD:
                _log_axis(axes, "{:g}")
        axes.set_yticks(range(len(order)), labels=list(reversed(order)))
        axes.set_ylim(-0.6, len(order) - 0.4)
        axes.set_xlabel("wall time per call (ms)")
        axes.grid(axis="x", color=GRID_COLOUR, linewidth=0.6)
        axes.set_axisbelow(True)
        return _svg(figure, title)


def drawn_points(samples: Sequence[float]) -> Sequence[float]:
    """The dots of one variant: every sample, or :data:`MAX_POINTS` evenly spaced quantiles
    of them when there are more (100,000 dots would make the SVG, and the memory drawing
    it, grow without bound; the box is still computed from every sample)."""
    if len(samples) <= MAX_POINTS:
        return samples
    import numpy as np

    return [
        float(q)
        for q in np.quantile(np.asarray(samples, dtype=float), np.linspace(0.0, 1.0, MAX_POINTS))
    ]


def speedup_chart(rows: Sequence[SummaryRow], *, title: str) -> Markup:
    """Each operation's speed-up (before / ours, medians) with its interval, on a log axis."""
    usable = [r for r in rows if r.speedup.low > 0 and math.isfinite(r.speedup.high)]
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(WIDTH_IN, 0.8 + 0.32 * max(len(usable), 1)), layout="constrained")
        axes = figure.add_subplot()
        for position, row in enumerate(reversed(usable)):
            ratio = row.speedup
            axes.errorbar(
                [ratio.value],
                [position],
                xerr=[[ratio.value - ratio.low], [ratio.high - ratio.value]],
                fmt="o",
                color=OURS_COLOUR if ratio.value >= 1 else BEFORE_COLOUR,
                markersize=5,
                capsize=3,
                linewidth=1.2,
            )
        axes.axvline(1.0, color=TEXT_COLOUR, linewidth=0.8, linestyle="--")
        _log_axis(axes, "{:g}×")
        axes.set_yticks(range(len(usable)), labels=[r.operation for r in reversed(usable)])
        axes.set_ylim(-0.6, max(len(usable), 1) - 0.4)
        axes.set_xlabel("speed-up, median before / median ours (×, log scale)")
        axes.grid(axis="x", color=GRID_COLOUR, linewidth=0.6, which="both")
        axes.set_axisbelow(True)
        return _svg(figure, title)


def rtt_chart(sweep: RttSweep, *, title: str) -> Markup:
    """Median wall time against simulated round-trip time, a line per variant."""
    palette = colours(list(sweep.p50))
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(WIDTH_IN, 3.0), layout="constrained")
        axes = figure.add_subplot()
        for variant, medians in sweep.p50.items():
            axes.plot(
                sweep.rtts, medians, marker="o", markersize=4, color=palette[variant], label=variant
            )
        axes.set_xlabel("simulated round-trip time (ms)")
        axes.set_ylabel("median wall time (ms)")
        axes.grid(color=GRID_COLOUR, linewidth=0.6)
        axes.legend(frameon=False)
        return _svg(figure, title)


def _log_axis(axes: Axes, label: str) -> None:
    """A logarithmic x axis ticked at 1, 2, 5, 10, ... with plain labels (no powers of ten)."""
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: label.format(value)))
    axes.xaxis.set_minor_formatter(NullFormatter())


def _svg(figure: Figure, title: str) -> Markup:
    """The figure as an inline ``<svg>`` element, labelled for assistive technology."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata=_NO_METADATA)
    text = _STRUCTURAL_ID.sub("", buffer.getvalue())
    start = text.index("<svg")
    label = f'<svg class="chart" role="img" aria-label="{escape(title)}"'
    return Markup(label + text[start + len("<svg") :])
