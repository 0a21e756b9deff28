"""The complexity verdict: query count fitted against size, shared by ``dalperf run`` and the
pytest plugin's scaling check (``dalperf_scaling``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dalperf.results import Complexity

LINEAR_FIT_R2 = 0.98


def fit_complexity(sizes: Sequence[int], queries: Sequence[int]) -> Complexity:
    """``O(1)`` when the count does not change with size, ``O(n)`` when it grows on a line.

    Anything else (a count that shrinks, or grows but not linearly) is reported as
    ``irregular`` with the fitted slope, rather than forced into one of the two.
    """
    x = np.asarray(sizes, dtype=float)
    y = np.asarray(queries, dtype=float)
    slope, intercept = (float(v) for v in np.polyfit(x, y, 1))
    if np.ptp(y) == 0:
        verdict = "O(1)"
    else:
        residual = float(np.sum((y - (slope * x + intercept)) ** 2))
        total = float(np.sum((y - y.mean()) ** 2))
        verdict = "O(n)" if slope > 0 and 1 - residual / total >= LINEAR_FIT_R2 else "irregular"
    return Complexity(verdict=verdict, slope=round(slope, 4), intercept=round(intercept, 4),
                      sizes=tuple(int(s) for s in sizes), queries=tuple(int(q) for q in queries))
