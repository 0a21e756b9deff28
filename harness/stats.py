"""Summary statistics of timing samples, and the confidence interval of a ratio of medians.

Per-iteration samples are kept in the results; everything here derives from them, so a
report can recompute any figure without re-measuring.
"""

from __future__ import annotations

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
    import numpy as np

    a = np.asarray(numerator, dtype=float)
    b = np.asarray(denominator, dtype=float)
    if a.size == 0 or b.size == 0:
        nan = float("nan")
        return Ratio(value=nan, low=nan, high=nan, confidence=confidence)
    rng = np.random.default_rng(seed)
    boot_a = np.median(rng.choice(a, size=(resamples, a.size), replace=True), axis=1)
    boot_b = np.median(rng.choice(b, size=(resamples, b.size), replace=True), axis=1)
    ratios = boot_a / boot_b
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return Ratio(value=float(np.median(a) / np.median(b)), low=float(low), high=float(high),
                 confidence=confidence)
