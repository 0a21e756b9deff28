"""Summary statistics of timing samples, the confidence interval of a ratio of medians (and
of a geometric mean of such ratios), and the one-sided Mann-Whitney U test of the baseline
gate.

Per-iteration samples are kept in the results; everything here derives from them, so a
report can recompute any figure without re-measuring.  Everything is on the standard
library: ``dalperf run``, ``compare`` and ``check`` work in the base install, without numpy
or SciPy (tests/test_stats_stdlib.py holds each function against its numpy/SciPy
counterpart).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20251004


@dataclass(frozen=True, kw_only=True, slots=True)
class Summary:
    """Median, tail percentiles and extremes of a list of samples (milliseconds)."""

    p50: float
    p95: float
    p99: float
    min: float
    max: float
    mean: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            nan = float("nan")
            return cls(p50=nan, p95=nan, p99=nan, min=nan, max=nan, mean=nan, samples=())
        values = sorted(float(v) for v in samples)
        p50, p95, p99 = (percentile(values, q) for q in (50, 95, 99))
        return cls(
            p50=p50,
            p95=p95,
            p99=p99,
            min=values[0],
            max=values[-1],
            mean=math.fsum(values) / len(values),
            samples=tuple(float(v) for v in samples),
        )


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of sorted ``ordered``, interpolated linearly between the two
    nearest ranks (numpy's default method, so figures match ``numpy.percentile``)."""
    position = (len(ordered) - 1) * q / 100.0
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    fraction = position - below
    low, high = ordered[below], ordered[above]
    return low + (high - low) * fraction if fraction else low


@dataclass(frozen=True, kw_only=True, slots=True)
class Ratio:
    """``numerator / denominator`` of medians with a bootstrap confidence interval."""

    value: float
    low: float
    high: float
    confidence: float


def median_ratio(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Ratio:
    """Ratio of medians (e.g. naive / optimized: the speed-up) with a percentile bootstrap CI.

    Both sample sets are resampled independently; the interval is deterministic for a
    given seed, so re-rendering a report gives the same figures.
    """
    return geometric_mean_ratio(
        [(numerator, denominator)], confidence=confidence, resamples=resamples, seed=seed
    )


def geometric_mean_ratio(
    pairs: Sequence[tuple[Sequence[float], Sequence[float]]],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Ratio:
    """Geometric mean over ``pairs`` of their ratios of medians, with a bootstrap interval.

    Each pair is bootstrapped as :func:`median_ratio` does (with the same seed, so the
    same resamples); resample ``r`` of the geometric mean is the geometric mean of every
    pair's resample ``r``, and the interval is the percentiles of those.  So the interval
    keeps the skew of the per-pair distributions, and with one pair it is that pair's own
    interval.  Pairs with no samples, or with a sample <= 0, give NaN.
    """
    nan = float("nan")
    if not pairs:
        return Ratio(value=nan, low=nan, high=nan, confidence=confidence)
    logs, values = [], []
    for numerator, denominator in pairs:
        a, b = sorted(float(v) for v in numerator), sorted(float(v) for v in denominator)
        if not a or not b or a[0] <= 0 or b[0] <= 0:
            return Ratio(value=nan, low=nan, high=nan, confidence=confidence)
        rng = random.Random(seed)
        boot_a, boot_b = (
            bootstrap_medians(rng, a, resamples),
            bootstrap_medians(rng, b, resamples),
        )
        logs.append([math.log(x / y) for x, y in zip(boot_a, boot_b, strict=True)])
        values.append(math.log(_median(a) / _median(b)))
    draws = sorted(math.exp(math.fsum(column) / len(logs)) for column in zip(*logs, strict=True))
    tail = (1.0 - confidence) / 2.0
    return Ratio(
        value=math.exp(math.fsum(values) / len(values)),
        low=percentile(draws, 100 * tail),
        high=percentile(draws, 100 * (1 - tail)),
        confidence=confidence,
    )


def bootstrap_medians(rng: random.Random, ordered: Sequence[float], resamples: int) -> list[float]:
    """The medians of ``resamples`` bootstrap resamples of sorted ``ordered`` (drawn with
    replacement, each as large as ``ordered``), drawn exactly without building a resample.

    A resample is ``n`` indices ``floor(n * U)`` of ``n`` uniform ``U``; its median needs only
    the middle order statistics of those ``U``: the ``k``-th of ``n`` is Beta(k, n - k + 1),
    and given it is ``u``, the next is ``u + (1 - u) * Beta(1, n - k)``.  So each resample
    costs two draws instead of ``n`` and a sort: 100,000 samples cost what 10 do, and the
    medians have exactly the distribution of the resampling ones.
    """
    n = len(ordered)
    if n == 1:
        return [ordered[0]] * resamples
    k = (n + 1) // 2  # the lower middle rank (the median itself when n is odd)
    medians = []
    for _ in range(resamples):
        u = rng.betavariate(k, n - k + 1)
        low = ordered[min(n - 1, int(n * u))]
        if n % 2:
            medians.append(low)
        else:
            v = u + (1.0 - u) * rng.betavariate(1, n - k)
            medians.append((low + ordered[min(n - 1, int(n * v))]) / 2.0)
    return medians


def _median(ordered: Sequence[float]) -> float:
    n = len(ordered)
    middle = n // 2
    return ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def mann_whitney_greater(x: Sequence[float], y: Sequence[float]) -> float:
    """The p-value of the one-sided Mann-Whitney U test that ``x`` tends to exceed ``y``.

    As ``scipy.stats.mannwhitneyu(x, y, alternative="greater")`` computes it by default:
    the exact distribution of U when one sample has at most 8 values and there are no ties,
    else the normal approximation with the tie correction and the continuity correction.
    """
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        raise ValueError("both samples need at least one value")
    ranked = sorted([(float(v), 0) for v in x] + [(float(v), 1) for v in y])
    rank_sum, ties, i = 0.0, [], 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        average = (i + j) / 2.0 + 1.0  # ranks i+1 .. j+1
        rank_sum += average * sum(1 for _, side in ranked[i : j + 1] if side == 0)
        ties.append(j - i + 1)
        i = j + 1
    u = rank_sum - n1 * (n1 + 1) / 2.0
    if (n1 <= 8 or n2 <= 8) and all(t == 1 for t in ties):
        return min(1.0, _exact_u_tail(n1, n2, round(u)))
    n = n1 + n2
    tie_term = sum(t**3 - t for t in ties)
    spread = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))))
    if spread == 0:
        return 1.0
    z = (u - n1 * n2 / 2.0 - 0.5) / spread
    return min(1.0, max(0.0, 0.5 * math.erfc(z / math.sqrt(2.0))))


def _exact_u_tail(n1: int, n2: int, u: int) -> float:
    """``P(U >= u)`` under the null hypothesis, from the exact counts of U (the coefficients
    of the Gaussian binomial ``[n1 + n2 choose n1]``, built with integers)."""
    small, large = min(n1, n2), max(n1, n2)
    counts = [1]  # polynomial in q: the count of arrangements giving each U
    for i in range(1, small + 1):
        # multiply by (1 - q^(large + i)), then divide by (1 - q^i)
        grown = counts + [0] * (large + i)
        for d in range(len(grown) - 1, large + i - 1, -1):
            grown[d] -= grown[d - large - i]
        for d in range(i, len(grown)):
            grown[d] += grown[d - i]
        counts = grown[: small * large + 1] if len(grown) > small * large + 1 else grown
    counts = counts[: small * large + 1]
    total = math.comb(n1 + n2, n1)
    return sum(counts[max(0, u) :]) / total
