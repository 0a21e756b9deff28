"""Summary statistics of timing samples, and the confidence interval of a ratio of medians
(and of a geometric mean of such ratios).

Per-iteration samples are kept in the results; everything here derives from them, so a
report can recompute any figure without re-measuring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20251004
BOOTSTRAP_BLOCK = 2_000_000  # resampled values held at once: 16 MB, whatever the sample count


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
        import numpy as np  # imported here: reading a results file needs no numpy

        values = np.asarray(samples, dtype=float)
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return cls(p50=float(p50), p95=float(p95), p99=float(p99), min=float(values.min()),
                   max=float(values.max()), mean=float(values.mean()),
                   samples=tuple(float(v) for v in values))


@dataclass(frozen=True, kw_only=True, slots=True)
class Ratio:
    """``numerator / denominator`` of medians with a bootstrap confidence interval."""

    value: float
    low: float
    high: float
    confidence: float


def median_ratio(numerator: Sequence[float], denominator: Sequence[float], *,
                 confidence: float = CONFIDENCE, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED) -> Ratio:
    """Ratio of medians (e.g. naive / optimized: the speed-up) with a percentile bootstrap CI.

    Both sample sets are resampled independently; the interval is deterministic for a
    given seed, so re-rendering a report gives the same figures.
    """
    return geometric_mean_ratio([(numerator, denominator)], confidence=confidence,
                                resamples=resamples, seed=seed)


def geometric_mean_ratio(pairs: Sequence[tuple[Sequence[float], Sequence[float]]], *,
                         confidence: float = CONFIDENCE, resamples: int = BOOTSTRAP_RESAMPLES,
                         seed: int = BOOTSTRAP_SEED) -> Ratio:
    """Geometric mean over ``pairs`` of their ratios of medians, with a bootstrap interval.

    Each pair is bootstrapped as :func:`median_ratio` does (with the same seed, so the
    same resamples); resample ``r`` of the geometric mean is the geometric mean of every
    pair's resample ``r``, and the interval is the percentiles of those.  So the interval
    keeps the skew of the per-pair distributions, and with one pair it is that pair's own
    interval.  Pairs with no samples, or with a sample <= 0, give NaN.
    """
    import numpy as np

    nan = float("nan")
    if not pairs:
        return Ratio(value=nan, low=nan, high=nan, confidence=confidence)
    logs, values = [], []
    for numerator, denominator in pairs:
        a = np.asarray(numerator, dtype=float)
        b = np.asarray(denominator, dtype=float)
        if a.size == 0 or b.size == 0 or not (a > 0).all() or not (b > 0).all():
            return Ratio(value=nan, low=nan, high=nan, confidence=confidence)
        rng = np.random.default_rng(seed)
        boot_a, boot_b = (_bootstrap_medians(rng, a, resamples),
                          _bootstrap_medians(rng, b, resamples))
        logs.append(np.log(boot_a / boot_b))
        values.append(float(np.log(np.median(a) / np.median(b))))
    draws = np.exp(np.mean(logs, axis=0))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return Ratio(value=float(np.exp(np.mean(values))), low=float(low), high=float(high),
                 confidence=confidence)


def _bootstrap_medians(rng: Any, values: Any, resamples: int) -> Any:
    """The medians of ``resamples`` resamples of ``values`` (with replacement), drawn in
    blocks of at most :data:`BOOTSTRAP_BLOCK` values: memory stays bounded with 100,000
    samples (all at once would be 2,000 x 100,000 floats, 1.6 GB).  The generator draws
    the same stream block by block as in one call, so the medians do not depend on it."""
    import numpy as np

    rows = max(1, BOOTSTRAP_BLOCK // values.size)
    return np.concatenate([
        np.median(rng.choice(values, size=(min(rows, resamples - start), values.size),
                             replace=True), axis=1)
        for start in range(0, resamples, rows)])
