"""Baselines: saving, comparable environments, count regressions and the latency rule
(statistically clear by Mann-Whitney U *and* above the tolerance), through ``dalperf``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dalperf.cli import main
from dalperf.errors import UsageError
from dalperf.gate.baseline import (
    DEFAULT_BASELINE,
    DEFAULT_CHECKS,
    LatencyCheck,
    compare,
    latency_regression,
    mismatches,
    save,
)
from dalperf.results.model import Failure
from dalperf.results.stats import Summary
from tests.test_check import make_measurement, make_results


def samples(
    center: float, n: int = 30, *, spread: float = 0.05, seed: int = 1
) -> tuple[float, ...]:
    """Deterministic wall times around ``center`` ms, like a measured run's."""
    rng = np.random.default_rng(seed)
    return tuple(float(v) for v in center * (1 + spread * rng.standard_normal(n)))


def test_check_strings_parse_and_bad_ones_are_refused() -> None:
    assert LatencyCheck.parse("p95:10%") == LatencyCheck(statistic="p95", tolerance=10, unit="%")
    assert LatencyCheck.parse("median:5ms") == LatencyCheck(
        statistic="median", tolerance=5, unit="ms"
    )
    assert [str(c) for c in DEFAULT_CHECKS] == ["median:10%", "p95:10%"]
    for bad in ("p95", "p95:ten%", "p95:10", "p42:10%", "median:-5ms"):
        with pytest.raises(UsageError):
            LatencyCheck.parse(bad)


MEDIAN_10 = LatencyCheck(statistic="median", tolerance=10, unit="%")


def test_a_clear_rise_above_tolerance_is_a_regression() -> None:
    found = latency_regression(
        MEDIAN_10, Summary.of(samples(1.3, seed=2)), Summary.of(samples(1.0))
    )
    assert found is not None
    measured, baseline, p_value = found
    assert measured / baseline == pytest.approx(1.3, rel=0.05) and p_value < 1e-6


def test_a_clear_rise_within_tolerance_passes() -> None:
    slower = Summary.of(samples(1.05, n=200, spread=0.01, seed=2))
    base = Summary.of(samples(1.0, n=200, spread=0.01))
    assert latency_regression(MEDIAN_10, slower, base) is None  # +5% < 10%, however clear
    assert latency_regression(LatencyCheck.parse("median:0.02ms"), slower, base) is not None


def test_a_big_rise_that_is_not_statistically_clear_passes() -> None:
    # three samples each: no ordering of 3 vs 3 gives a one-sided p below 0.05
    assert (
        latency_regression(MEDIAN_10, Summary.of((2.0, 2.1, 2.2)), Summary.of((1.0, 1.1, 1.2)))
        is None
    )
    # one outlier lifts the p95 by 50%, but the distributions are the same
    base = samples(1.0)
    outlier = (*base[:-1], 1.6)
    assert (
        latency_regression(LatencyCheck.parse("p95:10%"), Summary.of(outlier), Summary.of(base))
        is None
    )


def test_count_rises_are_regressions_falls_are_not() -> None:
    base = make_results(make_measurement(queries=2, round_trips=2))
    assert compare(make_results(make_measurement(queries=1, round_trips=1)), base).regressions == ()
    worse = compare(make_results(make_measurement(queries=3, round_trips=2)), base).regressions
    assert [(r.metric, r.baseline, r.measured, r.message) for r in worse] == [
        ("queries", 2, 3, "queries rose from 2 to 3")
    ]
    deeper = compare(make_results(make_measurement(queries=2, round_trips=3)), base).regressions
    assert [r.message for r in deeper] == ["round trips (depth) rose from 2 to 3"]


def test_slower_run_is_reported_with_its_p_value() -> None:
    base = make_results(make_measurement(wall=samples(1.0)))
    slower = make_results(make_measurement(wall=samples(1.5, seed=3)))
    found = compare(slower, base).regressions
    assert {r.metric for r in found} == {"median:10%", "p95:10%"}
    assert all(r.p_value is not None and r.p_value < 0.05 for r in found)
    assert "Mann-Whitney p=" in found[0].message
    same = make_results(make_measurement(wall=samples(1.0, seed=4)))
    assert compare(same, base).regressions == ()


def test_incomparable_environments_are_refused_unless_allowed() -> None:
    base = make_results(make_measurement(), server_version="18.1", scale=1.0)
    assert mismatches(make_results(make_measurement(), server_version="18.3 (Debian)"), base) == []
    other = make_results(make_measurement(queries=2), server_version="17.2", scale=0.05)
    with pytest.raises(
        UsageError,
        match=r"scale 0.05 \(results\) vs 1.0 \(baseline\); "
        r"PostgreSQL major version 17 \(results\) vs 18",
    ):
        compare(other, base)
    allowed = compare(other, base, allow_mismatch=True)
    assert [r.metric for r in allowed.regressions] == ["queries"]
    assert allowed.notes[0] == "compared despite scale 0.05 (results) vs 1.0 (baseline)"


def test_unmatched_and_errored_pairs_are_noted_not_compared() -> None:
    base = make_results(make_measurement(), make_measurement("gallery.list_public", "optimized"))
    now = make_results(
        make_measurement(queries=9, error="RuntimeError: x"),
        make_measurement("projects.list_with_render_counts", "optimized"),
    )
    comparison = compare(now, base)
    assert comparison.regressions == ()
    assert comparison.notes == (
        "renders.get_by_ids [optimized]: not compared, a run raised",
        "projects.list_with_render_counts [optimized]: not in the baseline",
        "gallery.list_public [optimized]: in the baseline, not measured",
    )


def test_save_refuses_failures_and_replacing_another_environments_baseline(tmp_path: Path) -> None:
    to = tmp_path / "baseline.json"
    broken = make_results(
        make_measurement(),
        failures=(
            Failure(
                operation="renders.get_by_ids",
                variant="optimized",
                kind="mismatch",
                message="differ",
            ),
        ),
    )
    with pytest.raises(UsageError, match="1 failure"):
        save(broken, to)
    save(make_results(make_measurement(), scale=1.0), to)
    smaller = make_results(make_measurement(), scale=0.05)
    with pytest.raises(UsageError, match="refusing to replace baseline .*scale 0.05"):
        save(smaller, to)
    save(smaller, to, allow_mismatch=True)
    assert "0.05" in to.read_text()


def test_baseline_cli_default_location_and_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    first = tmp_path / "first.json"
    make_results(make_measurement(wall=samples(1.0))).save(first)
    assert main(["baseline", "save", str(first)]) == 0
    assert (tmp_path / DEFAULT_BASELINE).is_file()
    assert main(["check", str(first), "--baseline", str(DEFAULT_BASELINE)]) == 0
    assert "no regression against the baseline" in capsys.readouterr().out

    deeper = tmp_path / "deeper.json"
    make_results(make_measurement(queries=3, round_trips=3, wall=samples(1.0))).save(deeper)
    assert main(["check", str(deeper), "--baseline", str(DEFAULT_BASELINE)]) == 1
    out = capsys.readouterr().out
    assert "queries rose from 1 to 3" in out and "round trips (depth) rose from 1 to 3" in out

    slower = tmp_path / "slower.json"
    make_results(make_measurement(wall=samples(1.12, seed=5))).save(slower)
    assert main(["check", str(slower), "--baseline", str(DEFAULT_BASELINE)]) == 1
    assert "median:10%" in capsys.readouterr().out
    assert (
        main(
            [
                "check",
                str(slower),
                "--baseline",
                str(DEFAULT_BASELINE),
                "--check",
                "median:20%",
                "--check",
                "p95:20%",
            ]
        )
        == 0
    )
    capsys.readouterr()

    for args, message in [
        (["--check", "p95:10%"], "give --baseline too"),
        (["--baseline", "nope.json"], "baseline nope.json does not exist"),
        (["--baseline", str(DEFAULT_BASELINE), "--check", "p95"], "must look like p95:10%"),
    ]:
        assert main(["check", str(slower), *args]) == 2
        assert message in capsys.readouterr().err

    other = tmp_path / "other.json"
    make_results(make_measurement(), scale=10.0).save(other)
    assert main(["check", str(other), "--baseline", str(DEFAULT_BASELINE)]) == 2
    assert "not comparable: scale 10.0 (results) vs 1.0 (baseline)" in capsys.readouterr().err
    assert main(["check", str(other), "--baseline", str(DEFAULT_BASELINE), "--allow-mismatch"]) == 0
    assert "note: compared despite scale 10.0" in capsys.readouterr().out


def test_a_baseline_of_another_schema_version_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "r.json"
    make_results(make_measurement()).save(results)
    future = tmp_path / "future.json"
    future.write_text('{"schema_version": 2, "environment": {}, "operations": []}')
    assert main(["check", str(results), "--baseline", str(future)]) == 2
    assert "schema_version 2 is not supported" in capsys.readouterr().err
