"""A distribution-free confidence interval of a percentile, from the samples alone.

The ``k``-th smallest of ``n`` samples lies below the population's ``q``-quantile with the
binomial probability ``P(Binomial(n, q) >= k)``; so the order statistics ``x(l)`` and
``x(u)`` chosen from the binomial distribution bound the quantile with at least the asked
confidence, whatever the distribution of the samples (the classic order-statistic interval,
e.g. Conover, *Practical Nonparametric Statistics*, 3.2).  With too few samples no order
statistic bounds the quantile from above (for p95 at 95%, fewer than 72 samples leave the
upper end open): there is then no interval.  Pure Python, so that adding a results file to
the history needs no numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

CONFIDENCE = 0.95


def quantile_interval(
    samples: Sequence[float], q: float = 0.95, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """``(low, high)`` bounding the ``q``-quantile with ``confidence``, or ``None`` when the
    samples are too few (or none) for both ends."""
    values = sorted(v for v in samples if math.isfinite(v))
    n = len(values)
    if n == 0:
        return None
    tail = (1 - confidence) / 2
    cdf = _binomial_cdf(n, q)  # cdf[k] = P(B <= k)
    # lower: the largest l with P(B <= l - 1) <= tail; upper: the smallest u with P(B <= u - 1) >= 1 - tail
    lower = max((k for k in range(1, n + 1) if cdf[k - 1] <= tail), default=None)
    upper = min((k for k in range(1, n + 1) if cdf[k - 1] >= 1 - tail), default=None)
    if lower is None or upper is None:
        return None
    return values[lower - 1], values[upper - 1]


def _binomial_cdf(n: int, p: float) -> list[float]:
    """``P(Binomial(n, p) <= k)`` for k = 0..n, through log-probabilities (no overflow)."""
    log_p, log_q = math.log(p), math.log1p(-p)
    total, cdf = 0.0, []
    for k in range(n + 1):
        log_pmf = (
            math.lgamma(n + 1)
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + k * log_p
            + (n - k) * log_q
        )
        total += math.exp(log_pmf)
        cdf.append(min(total, 1.0))
    return cdf
