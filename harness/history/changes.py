"""Change detection over one series' history: pinned count changes and latency shifts.

Two kinds of change, found in two different ways because the figures are of two kinds:

* **Deterministic figures** (queries, round trips, network round trips, buffers, rows
  fetched, plan shapes) do not vary from run to run of the same code on the same data, so a
  change needs no statistics: it is pinned to the *first* commit whose value differs from
  the last known value before it (commits that did not record the figure are skipped).
* **Latency** (the per-commit median, p50) is noisy, so a shift is a change point: binary
  segmentation (``ruptures.Binseg``) over the logarithm of the per-commit medians, with a
  least-squares (change in mean) cost and the penalty ``PENALTY_FACTOR · σ̂² · ln n``,
  where ``n`` is the number of commits and ``σ̂`` the noise level estimated from the median
  absolute first difference (robust to the shifts themselves).  No segment is shorter than
  :data:`MIN_SEGMENT` commits, so one slow run cannot make a shift.  Each candidate is then
  confirmed: the ratio of the medians after / before (over the neighbouring segments, at
  most :data:`CONTEXT` commits each side) with a percentile bootstrap interval
  (:func:`dalperf.results.stats.median_ratio`, seeded, so a report renders the same twice) must
  exclude 1 and move by at least :data:`MIN_EFFECT`.

``ruptures`` is imported inside :func:`latency_shifts`: reading a store needs none of it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dalperf.errors import EnvironmentProblem
from dalperf.history.model import Commit, Point, SeriesKey
from dalperf.results.stats import Ratio, median_ratio

__all__ = ["COUNT_FIGURES", "CountChange", "LatencyShift", "count_changes", "latency_shifts"]

COUNT_FIGURES = ("queries", "round_trips", "network_round_trips", "buffers", "rows_fetched")
PLAN_SHAPES = "plan_shapes"
LATENCY_FIGURE = "p50_ms"

PENALTY_FACTOR = 3.0  # × σ̂² · ln n: 1.5 times the BIC penalty of a change in mean
MIN_SEGMENT = 8  # commits: the shortest run of commits a shift may stand on
CLIP = 3.0  # σ̂: values further than this from their running median are clipped to it
MIN_EFFECT = 0.05  # a confirmed shift moves the median by at least 5 % (ratio ≥ 1.05 or ≤ 1/1.05)
CONTEXT = 200  # commits each side of a candidate that its ratio is computed over
NOISE_FLOOR = 1e-3  # σ̂ of log latency below this (0.1 %) is taken as this: a flat line
_MAD_TO_SIGMA = 1.0 / (0.6744897501960817 * math.sqrt(2.0))  # of differences of normal noise


@dataclass(frozen=True, slots=True)
class CountChange:
    """A deterministic figure of one series that changed, pinned to the first commit with
    the new value.  ``figure`` is one of :data:`COUNT_FIGURES`, or ``"plan_shapes"`` when
    only the plan shapes changed (then ``before`` and ``after`` are ``None``)."""

    key: SeriesKey
    figure: str
    commit: Commit
    previous: Commit
    index: int  # of the commit's point in the series
    before: int | None
    after: int | None
    plans_before: tuple[str, ...]
    plans_after: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LatencyShift:
    """A confirmed change point of one series' median latency: the first commit of the new
    level, the medians of the per-commit p50 before and after, and their ratio (after /
    before, 2.0 meaning twice as slow) with its bootstrap interval."""

    key: SeriesKey
    figure: str
    commit: Commit
    previous: Commit
    index: int  # of the commit's point in the series
    before_ms: float
    after_ms: float
    ratio: Ratio
    commits_before: int
    commits_after: int
    window: tuple[int, int]  # indices of the first point before and the last point after


def count_changes(points: Sequence[Point]) -> list[CountChange]:
    """Every change of a deterministic figure in ``points`` (one series, oldest first),
    in commit order; at one commit, figures in the order of :data:`COUNT_FIGURES`.

    A plan-shape change is reported on its own (figure ``"plan_shapes"``) only at a
    commit where no count changed; otherwise the count changes carry the shapes."""
    _one_series(points)
    changes: list[CountChange] = []
    last: dict[str, tuple[int, int]] = {}  # figure -> (value, index of its point)
    last_plans: tuple[tuple[str, ...], int] | None = None
    for index, point in enumerate(points):
        here = []
        for figure in COUNT_FIGURES:
            value = getattr(point, figure)
            if value is None:
                continue
            if figure in last and last[figure][0] != value:
                here.append((figure, last[figure], value))
            last[figure] = (value, index)
        plans_before = last_plans[0] if last_plans else point.plan_shapes
        for figure, (before, previous), after in here:
            changes.append(
                CountChange(
                    key=point.key,
                    figure=figure,
                    commit=point.commit,
                    previous=points[previous].commit,
                    index=index,
                    before=before,
                    after=after,
                    plans_before=plans_before,
                    plans_after=point.plan_shapes,
                )
            )
        if point.plan_shapes:
            if not here and last_plans and last_plans[0] != point.plan_shapes:
                changes.append(
                    CountChange(
                        key=point.key,
                        figure=PLAN_SHAPES,
                        commit=point.commit,
                        previous=points[last_plans[1]].commit,
                        index=index,
                        before=None,
                        after=None,
                        plans_before=last_plans[0],
                        plans_after=point.plan_shapes,
                    )
                )
            last_plans = (point.plan_shapes, index)
    return changes


def latency_shifts(
    points: Sequence[Point],
    *,
    figure: str = LATENCY_FIGURE,
    penalty_factor: float = PENALTY_FACTOR,
    min_segment: int = MIN_SEGMENT,
    min_effect: float = MIN_EFFECT,
) -> list[LatencyShift]:
    """The confirmed shifts of ``figure`` (a latency in ms) in ``points`` (one series,
    oldest first), in commit order; see the module's docstring for the method."""
    _one_series(points)
    kept = [
        (i, float(getattr(p, figure)))
        for i, p in enumerate(points)
        if getattr(p, figure) is not None and getattr(p, figure) > 0
    ]
    if len(kept) < 2 * min_segment:
        return []
    import numpy as np

    values = np.asarray([v for _, v in kept], dtype=float)
    signal = np.log(values)
    sigma = max(float(np.median(np.abs(np.diff(signal)))) * _MAD_TO_SIGMA, NOISE_FLOOR)
    penalty = penalty_factor * sigma * sigma * math.log(len(signal))
    candidates = _binseg(
        _clipped(signal, sigma, window=2 * min_segment + 1),
        penalty=penalty,
        min_segment=min_segment,
    )
    bounds = [*candidates, len(signal)]
    shifts: list[LatencyShift] = []
    start = 0
    for position, cut in enumerate(candidates):
        end = bounds[position + 1]
        before = values[max(start, cut - CONTEXT) : cut]
        after = values[cut : min(end, cut + CONTEXT)]
        ratio = median_ratio(after.tolist(), before.tolist())
        moved = ratio.value >= 1.0 + min_effect or ratio.value <= 1.0 / (1.0 + min_effect)
        if not (moved and (ratio.low > 1.0 or ratio.high < 1.0)):
            continue  # not confirmed: the next candidate is judged against this segment too
        index, previous = kept[cut][0], kept[cut - 1][0]
        shifts.append(
            LatencyShift(
                key=points[index].key,
                figure=figure,
                commit=points[index].commit,
                previous=points[previous].commit,
                index=index,
                before_ms=float(np.median(before)),
                after_ms=float(np.median(after)),
                ratio=ratio,
                commits_before=len(before),
                commits_after=len(after),
                window=(kept[max(start, cut - CONTEXT)][0], kept[min(end, cut + CONTEXT) - 1][0]),
            )
        )
        start = cut
    return shifts


def _clipped(signal: Any, sigma: float, *, window: int) -> Any:
    """``signal`` with every value kept within :data:`CLIP` σ̂ of its running median
    (over ``window`` values): a few slow runs in a row then weigh as little as ordinary
    noise, while a lasting step, which a running median follows, is left as it is."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    half = window // 2
    padded = np.pad(signal, half, mode="edge")
    running = np.median(sliding_window_view(padded, window), axis=1)
    return np.clip(signal, running - CLIP * sigma, running + CLIP * sigma)


def _binseg(signal: Any, *, penalty: float, min_segment: int) -> list[int]:
    """The change points ruptures' binary segmentation finds in ``signal`` (indices of the
    first value of each new segment, ascending), with the least-squares cost."""
    try:
        import ruptures
    except ImportError as exc:
        raise EnvironmentProblem(
            "latency change points need ruptures: pip install 'dalperf[report]'"
        ) from exc

    algorithm = ruptures.Binseg(custom_cost=_mean_shift_cost()(), min_size=min_segment, jump=1)
    return [int(b) for b in algorithm.fit(signal).predict(pen=penalty)[:-1]]


@functools.cache
def _mean_shift_cost() -> type:
    """ruptures' least-squares cost (its ``"l2"`` model: the sum of squared deviations from
    the segment's mean) computed from cumulative sums, so a segment costs O(1) instead of
    a pass over it: 2,000 commits take milliseconds rather than a tenth of a second.

    ``Binseg`` accepts a custom cost only as a subclass of ruptures' ``BaseCost``, so the
    class is made on first use, where ruptures is imported."""
    import numpy as np
    from ruptures.base import BaseCost

    class MeanShiftCost(BaseCost):
        model = "l2-cumulative"
        min_size = 2

        def fit(self, signal: Any) -> MeanShiftCost:
            flat = np.asarray(signal, dtype=float).ravel()
            self.signal = flat.reshape(-1, 1)  # ruptures reads its length
            self._sums = np.concatenate(([0.0], np.cumsum(flat))).tolist()
            self._squares = np.concatenate(([0.0], np.cumsum(flat * flat))).tolist()
            return self

        def error(self, start: int, end: int) -> float:
            total = self._sums[end] - self._sums[start]
            return max(
                self._squares[end] - self._squares[start] - total * total / (end - start), 0.0
            )

    return MeanShiftCost


def _one_series(points: Sequence[Point]) -> None:
    """Refuse points of more than one series: changes are only meaningful within one."""
    if points and any(p.key != points[0].key for p in points):
        raise ValueError("change detection takes the points of one series")
