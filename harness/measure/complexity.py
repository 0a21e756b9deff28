"""The complexity verdict: query count fitted against size, shared by ``dalperf run`` and the
pytest plugin's scaling check (``dalperf_scaling``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from dalperf.results.model import Complexity

LINEAR_FIT_R2 = 0.98


def fit_complexity(sizes: Sequence[int], queries: Sequence[int]) -> Complexity:
    """``O(1)`` when the count does not change with size, ``O(n)`` when it grows on a line.

    Anything else (a count that shrinks, or grows but not linearly) is reported as
    ``irregular`` with the fitted slope, rather than forced into one of the two.
    """
    x = [float(s) for s in sizes]
    y = [float(q) for q in queries]
    slope, intercept = least_squares_line(x, y)
    if max(y) == min(y):
        verdict = "O(1)"
    else:
        mean_y = math.fsum(y) / len(y)
        residual = math.fsum((b - (slope * a + intercept)) ** 2 for a, b in zip(x, y, strict=True))
        total = math.fsum((b - mean_y) ** 2 for b in y)
        verdict = "O(n)" if slope > 0 and 1 - residual / total >= LINEAR_FIT_R2 else "irregular"
    return Complexity(
        verdict=verdict,
        slope=round(slope, 4),
        intercept=round(intercept, 4),
        sizes=tuple(int(s) for s in sizes),
        queries=tuple(int(q) for q in queries),
    )


def least_squares_line(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """``(slope, intercept)`` of the least-squares line through the points (what
    ``numpy.polyfit(x, y, 1)`` returns); a flat line through the mean when every ``x`` is
    the same."""
    mean_x, mean_y = math.fsum(x) / len(x), math.fsum(y) / len(y)
    spread = math.fsum((a - mean_x) ** 2 for a in x)
    if spread == 0:
        return 0.0, mean_y
    slope = math.fsum((a - mean_x) * (b - mean_y) for a, b in zip(x, y, strict=True)) / spread
    return slope, mean_y - slope * mean_x
