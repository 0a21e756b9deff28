"""The standard-library statistics of :mod:`dalperf.results.stats` and the complexity fit, held
against the numpy and SciPy functions they replace (both come with the test extra only).

The bootstrap draws each resample's median from its order statistics instead of building
the resample: its distribution is checked exactly against every resample of small samples,
and its intervals against numpy's resampling bootstrap on larger ones.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from statistics import mean

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from dalperf.measure.complexity import fit_complexity, least_squares_line
from dalperf.results import stats


def _samples(rng: random.Random, n: int, *, ties: bool = False) -> list[float]:
    return [round(rng.lognormvariate(0.0, 0.6), 1 if ties else 9) for _ in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 50, 1001])
def test_summary_percentiles_match_numpy(n: int) -> None:
    values = _samples(random.Random(n), n)
    summary = stats.Summary.of(values)
    expected = np.percentile(values, [50, 95, 99])
    assert (summary.p50, summary.p95, summary.p99) == pytest.approx(tuple(expected), rel=1e-12)
    assert (summary.min, summary.max) == (min(values), max(values))
    assert summary.mean == pytest.approx(float(np.mean(values)), rel=1e-12)
    assert summary.samples == tuple(values)  # the order of the calls is kept


def test_empty_summary_is_nan() -> None:
    summary = stats.Summary.of([])
    assert summary.samples == () and summary.p50 != summary.p50


@pytest.mark.parametrize(
    ("n1", "n2"),
    [(1, 1), (3, 5), (8, 8), (8, 40), (5, 200), (9, 9), (12, 30), (60, 45), (400, 300)],
)
@pytest.mark.parametrize("ties", [False, True])
def test_mann_whitney_matches_scipy(n1: int, n2: int, ties: bool) -> None:
    rng = random.Random(n1 * 1000 + n2)
    for shift in (0.0, 0.2, 0.8):
        x = [v * (1 + shift) for v in _samples(rng, n1, ties=ties)]
        y = _samples(rng, n2, ties=ties)
        expected = float(mannwhitneyu(x, y, alternative="greater").pvalue)
        assert stats.mann_whitney_greater(x, y) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_mann_whitney_of_identical_samples_is_one() -> None:
    assert stats.mann_whitney_greater([1.0] * 10, [1.0] * 12) == 1.0
    with pytest.raises(ValueError, match="at least one value"):
        stats.mann_whitney_greater([], [1.0])


@pytest.mark.parametrize("values", [(1.0, 2.0, 7.0), (1.0, 2.0, 4.0, 9.0), (3.0, 3.0, 5.0, 8.0)])
def test_bootstrap_medians_have_the_exact_resampling_distribution(
    values: tuple[float, ...],
) -> None:
    """Every one of the n**n resamples, enumerated: the order-statistic draws must give each
    median with its exact probability."""
    n = len(values)
    exact = Counter(float(np.median(r)) for r in itertools.product(values, repeat=n))
    draws = 40_000
    drawn = Counter(stats.bootstrap_medians(random.Random(7), sorted(values), draws))
    assert set(drawn) <= set(exact)
    for median, count in exact.items():
        assert drawn[median] / draws == pytest.approx(count / n**n, abs=0.01)


def _numpy_interval(a: list[float], b: list[float], seed: int) -> tuple[float, float]:
    """The interval of the resampling bootstrap the standard-library one replaced."""
    rng = np.random.default_rng(seed)
    boot_a = np.median(rng.choice(a, size=(stats.BOOTSTRAP_RESAMPLES, len(a))), axis=1)
    boot_b = np.median(rng.choice(b, size=(stats.BOOTSTRAP_RESAMPLES, len(b))), axis=1)
    low, high = np.quantile(boot_a / boot_b, [0.025, 0.975])
    return float(low), float(high)


@pytest.mark.parametrize("n", [40, 41, 200, 1000])
def test_median_ratio_interval_matches_numpys_bootstrap(n: int) -> None:
    rng = random.Random(n)
    before = [v * 1.5 for v in _samples(rng, n)]
    after = _samples(rng, n)
    ratio = stats.median_ratio(before, after)
    assert ratio.value == pytest.approx(float(np.median(before) / np.median(after)), rel=1e-12)
    # one bound of a 2,000-resample bootstrap moves by 1-1.5% from seed to seed: the means
    # over 8 seeds of each method agree to 2% unless one of them is biased
    seeds = range(8)
    ours = [stats.median_ratio(before, after, seed=s) for s in seeds]
    theirs = [_numpy_interval(before, after, s) for s in seeds]
    assert mean(r.low for r in ours) == pytest.approx(mean(t[0] for t in theirs), rel=0.02)
    assert mean(r.high for r in ours) == pytest.approx(mean(t[1] for t in theirs), rel=0.02)


def test_median_ratio_of_non_positive_or_missing_samples_is_nan() -> None:
    for a, b in (([], [1.0]), ([1.0, 0.0], [1.0]), ([1.0], [-1.0])):
        ratio = stats.median_ratio(a, b)
        assert ratio.value != ratio.value and ratio.low != ratio.low


@pytest.mark.parametrize(
    ("sizes", "queries"),
    [((5, 20, 50), (7, 22, 52)), ((1, 2, 3, 10), (3, 1, 4, 1)), ((10, 10, 10), (1, 2, 3))],
)
def test_least_squares_line_matches_polyfit(
    sizes: tuple[int, ...], queries: tuple[int, ...]
) -> None:
    slope, intercept = least_squares_line([float(s) for s in sizes], [float(q) for q in queries])
    if len(set(sizes)) == 1:
        assert (slope, intercept) == (0.0, 2.0)
        return
    expected = np.polyfit(sizes, queries, 1)
    assert (slope, intercept) == pytest.approx(tuple(float(v) for v in expected), abs=1e-9)


def test_complexity_verdicts() -> None:
    assert fit_complexity((5, 20, 50), (7, 22, 52)).verdict == "O(n)"
    assert fit_complexity((5, 20, 50), (3, 3, 3)).verdict == "O(1)"
    assert fit_complexity((5, 20, 50), (50, 20, 5)).verdict == "irregular"
