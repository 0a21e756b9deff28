"""Baselines: a saved results JSON that later results are compared with, and the comparison.

A regression is, per operation x variant (at the same index state and simulated RTT):

- any rise in ``queries`` or in ``round_trips`` (depth): these are exact counts, so one more
  query is a regression, however fast;
- a latency rise that is both *statistically clear* and *above a tolerance*.  Statistically
  clear: a one-sided Mann-Whitney U test (:func:`dalperf.results.stats.mann_whitney_greater`, the
  figures of ``scipy.stats.mannwhitneyu(..., alternative="greater")``) on the two runs' per-call wall-time samples gives p below
  :data:`DEFAULT_ALPHA`; it assumes nothing about the shape of the distributions, and it
  needs at least 4 samples on each side before any p can fall below 0.05.  Above
  tolerance: the check's statistic (median, p95, p99 or mean of the samples) rose by more
  than the tolerance, a percentage of the baseline's value (``p95:10%``) or milliseconds
  (``median:5ms``).  The default checks are ``median:10%`` and ``p95:10%``;
- a rise in ``buffers`` (the server's work per call, :mod:`dalperf.plans.shape`) beyond the
  ``buffers:N%`` tolerance (default :data:`DEFAULT_BUFFERS_TOLERANCE_PERCENT`).  Buffers are
  deterministic on the same data and plan, so no test is needed; the tolerance is there for
  the few blocks that dead tuples of rolled-back writes add.

A *plan change* is a statement (fingerprint) whose plan shape differs from the baseline's.
It is reported with both shapes, and is a regression only through the buffers it raised:
a changed plan that does no more work passes with a note.  Queries, round trips, buffers
and plan shapes are the deterministic gates; latency is the statistical one.  A baseline
without buffers (written before dalperf recorded them, or with ``--no-explain``) skips the
buffers and plan gates with a note; queries, round trips and latency are compared as before.

Results measured on another environment are not comparable: a different results schema
version, data scale or PostgreSQL major version is refused unless ``allow_mismatch``.
Baselines live by default in ``reports/baseline.json``, beside the code (commit it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dalperf.errors import UsageError
from dalperf.plans.shape import plan_shape
from dalperf.results.model import Measurement, Results, read_results
from dalperf.results.stats import Summary, mann_whitney_greater

DEFAULT_BASELINE = Path("reports/baseline.json")
DEFAULT_ALPHA = 0.05
DEFAULT_TOLERANCE_PERCENT = 10.0
DEFAULT_BUFFERS_TOLERANCE_PERCENT = 10.0
BUFFERS = "buffers"
STATISTICS = {"median": "p50", "p50": "p50", "p95": "p95", "p99": "p99", "mean": "mean"}
COUNTS = {"queries": "queries", "round_trips": "round trips (depth)"}

_CHECK_RE = re.compile(r"^(?P<statistic>[a-z0-9]+):(?P<tolerance>\d+(?:\.\d+)?)(?P<unit>%|ms)$")
_BUFFERS_RE = re.compile(r"^buffers:(?P<tolerance>\d+(?:\.\d+)?)%$")


@dataclass(frozen=True, kw_only=True)
class LatencyCheck:
    """A latency regression rule: ``statistic`` may rise by at most ``tolerance`` ``unit``."""

    statistic: str
    tolerance: float
    unit: str  # "%" of the baseline's value, or "ms"
    alpha: float = DEFAULT_ALPHA

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise UsageError(
                f"latency check: unknown statistic {self.statistic!r}; "
                f"choose one of {', '.join(STATISTICS)}"
            )
        if self.unit not in ("%", "ms") or not self.tolerance >= 0:
            raise UsageError(
                f"latency check: tolerance must be a number >= 0 of % or ms, "
                f"not {self.tolerance!r}{self.unit}"
            )
        if not 0 < self.alpha < 1:
            raise UsageError(f"latency check: alpha must be between 0 and 1, not {self.alpha}")

    @classmethod
    def parse(cls, text: str) -> LatencyCheck:
        """``"p95:10%"`` or ``"median:5ms"`` as a check."""
        match = _CHECK_RE.match(text.strip().lower())
        if match is None:
            raise UsageError(f"latency check {text!r} must look like p95:10% or median:5ms")
        return cls(
            statistic=match["statistic"], tolerance=float(match["tolerance"]), unit=match["unit"]
        )

    def value(self, summary: Summary) -> float:
        return float(getattr(summary, STATISTICS[self.statistic]))

    def allowed_rise_ms(self, baseline_value: float) -> float:
        return baseline_value * self.tolerance / 100 if self.unit == "%" else self.tolerance

    def __str__(self) -> str:
        return f"{self.statistic}:{self.tolerance:g}{self.unit}"


DEFAULT_CHECKS: tuple[LatencyCheck, ...] = (
    LatencyCheck(statistic="median", tolerance=DEFAULT_TOLERANCE_PERCENT, unit="%"),
    LatencyCheck(statistic="p95", tolerance=DEFAULT_TOLERANCE_PERCENT, unit="%"),
)


@dataclass(frozen=True, kw_only=True)
class BuffersCheck:
    """The buffers rule: buffers per call may rise by at most ``tolerance`` percent."""

    tolerance: float = DEFAULT_BUFFERS_TOLERANCE_PERCENT

    def exceeded(self, measured: int, baseline: int) -> bool:
        return measured - baseline > baseline * self.tolerance / 100

    def __str__(self) -> str:
        return f"{BUFFERS}:{self.tolerance:g}%"


DEFAULT_BUFFERS_CHECK = BuffersCheck()


def parse_checks(texts: Sequence[str]) -> tuple[tuple[LatencyCheck, ...], BuffersCheck]:
    """``--check`` rules as latency checks and the buffers rule; each kind keeps its
    default when no rule of that kind is given."""
    latency: list[LatencyCheck] = []
    buffers = DEFAULT_BUFFERS_CHECK
    for text in texts:
        if text.strip().lower().startswith(f"{BUFFERS}:"):
            match = _BUFFERS_RE.match(text.strip().lower())
            if match is None:
                raise UsageError(
                    f"buffers check {text!r} must look like buffers:10% "
                    "(a percentage of the baseline's buffers per call)"
                )
            buffers = BuffersCheck(tolerance=float(match["tolerance"]))
        else:
            latency.append(LatencyCheck.parse(text))
    return tuple(latency) or DEFAULT_CHECKS, buffers


@dataclass(frozen=True, kw_only=True)
class Regression:
    """One figure that got worse than the baseline's."""

    operation: str
    variant: str
    metric: str  # "queries" | "round_trips" | a latency check such as "p95:10%"
    baseline: float
    measured: float
    message: str
    p_value: float | None = None
    indexes: bool = True
    rtt_ms: float = 0.0


@dataclass(frozen=True, kw_only=True)
class PlanChange:
    """A statement whose plan shape differs from the baseline's: both shapes, line by line."""

    operation: str
    variant: str
    fingerprint: str
    sql: str
    baseline: tuple[str, ...]
    measured: tuple[str, ...]
    buffers_baseline: int | None
    buffers_measured: int | None
    failed: bool  # the measurement's buffers rose beyond the tolerance with it
    indexes: bool = True
    rtt_ms: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Comparison:
    regressions: tuple[Regression, ...]
    notes: tuple[str, ...]  # environment differences let through, pairs without a counterpart
    plan_changes: tuple[PlanChange, ...] = ()


def load_baseline(path: Path) -> Results:
    """A baseline file (a results JSON); missing or broken is a UsageError naming it."""
    if not path.is_file():
        raise UsageError(
            f"baseline {path} does not exist; save one with "
            f"`dalperf baseline save RESULTS --to {path}`"
        )
    return read_results(path)


def save(results: Results, to: Path = DEFAULT_BASELINE, *, allow_mismatch: bool = False) -> Path:
    """Keep ``results`` as the baseline at ``to``.

    Refused when the results hold failures (a variant that raised or disagreed is no
    reference), or when ``to`` holds a baseline from another environment, unless
    ``allow_mismatch``.
    """
    if results.failures:
        raise UsageError(
            f"refusing to save a baseline from results with "
            f"{len(results.failures)} failure(s); fix them and measure again"
        )
    if to.exists() and not allow_mismatch:
        differences = mismatches(results, load_baseline(to))
        if differences:
            raise UsageError(
                f"refusing to replace baseline {to}: {'; '.join(differences)}; "
                "pass --allow-mismatch to replace it anyway"
            )
    results.save(to)
    return to


def mismatches(results: Results, baseline: Results) -> list[str]:
    """How the two runs' environments differ in ways that make them incomparable."""
    pairs = (
        ("schema version", results.schema_version, baseline.schema_version),
        ("scale", results.environment.get("scale"), baseline.environment.get("scale")),
        (
            "PostgreSQL major version",
            _major(results.environment.get("server_version")),
            _major(baseline.environment.get("server_version")),
        ),
    )
    return [
        f"{what} {mine} (results) vs {theirs} (baseline)"
        for what, mine, theirs in pairs
        if mine != theirs
    ]


def compare(
    results: Results,
    baseline: Results,
    *,
    checks: Sequence[LatencyCheck] = DEFAULT_CHECKS,
    buffers: BuffersCheck = DEFAULT_BUFFERS_CHECK,
    allow_mismatch: bool = False,
) -> Comparison:
    """Every regression and plan change of ``results`` against ``baseline``."""
    notes: list[str] = []
    differences = mismatches(results, baseline)
    if differences:
        if not allow_mismatch:
            raise UsageError(
                f"results and baseline are not comparable: {'; '.join(differences)}"
                "; pass --allow-mismatch to compare anyway"
            )
        notes.extend(f"compared despite {d}" for d in differences)
    before = {m.key: m for m in baseline.operations}
    deterministic = any(m.buffers is not None for m in baseline.operations)
    if not deterministic:
        notes.append(
            "the baseline has no buffers (an older results file, or measured with "
            "--no-explain): buffers and plan-shape gates skipped; queries, round "
            "trips and latency compared"
        )
    regressions: list[Regression] = []
    plan_changes: list[PlanChange] = []
    for measurement in results.operations:
        old = before.pop(measurement.key, None)
        label = f"{measurement.operation} [{measurement.variant}]"
        if old is None:
            notes.append(f"{label}: not in the baseline")
        elif measurement.error is not None or old.error is not None:
            notes.append(f"{label}: not compared, a run raised")
        elif measurement.size != old.size:
            notes.append(f"{label}: not compared, size {measurement.size} vs {old.size}")
        else:
            regressions.extend(_regressions(measurement, old, checks))
            if deterministic:
                if measurement.buffers is None or old.buffers is None:
                    notes.append(f"{label}: buffers not compared, not measured on both sides")
                    continue
                changes = plan_changes_of(measurement, old, buffers)
                plan_changes.extend(changes)
                regression = _buffers_regression(measurement, old, buffers, changes)
                if regression is not None:
                    regressions.append(regression)
    notes.extend(f"{op} [{variant}]: in the baseline, not measured" for op, variant, _, _ in before)
    return Comparison(
        regressions=tuple(regressions), notes=tuple(notes), plan_changes=tuple(plan_changes)
    )


def shapes(measurement: Measurement) -> dict[str, dict[str, Any]]:
    """Statement fingerprint -> ``{"sql", "shape"}`` for each explained plan; the shape is
    computed from the stored plan tree when the file predates stored shapes."""
    return {
        p["fingerprint"]: {
            "sql": p.get("sql", ""),
            "shape": p.get("shape") or plan_shape(p["plan"]),
        }
        for p in measurement.plans
        if p.get("explainable") and "plan" in p
    }


def plan_changes_of(new: Measurement, old: Measurement, buffers: BuffersCheck) -> list[PlanChange]:
    """The statements of both runs whose plan shapes differ, in the new run's order."""
    after, before = shapes(new), shapes(old)
    failed = (
        new.buffers is not None
        and old.buffers is not None
        and buffers.exceeded(new.buffers, old.buffers)
    )
    return [
        PlanChange(
            operation=new.operation,
            variant=new.variant,
            fingerprint=fingerprint,
            sql=plan["sql"],
            baseline=tuple(before[fingerprint]["shape"]["lines"]),
            measured=tuple(plan["shape"]["lines"]),
            buffers_baseline=old.buffers,
            buffers_measured=new.buffers,
            failed=failed,
            indexes=new.indexes,
            rtt_ms=new.rtt_ms,
        )
        for fingerprint, plan in after.items()
        if fingerprint in before and plan["shape"]["hash"] != before[fingerprint]["shape"]["hash"]
    ]


def _buffers_regression(
    new: Measurement, old: Measurement, buffers: BuffersCheck, changes: Sequence[PlanChange]
) -> Regression | None:
    assert new.buffers is not None and old.buffers is not None
    if not buffers.exceeded(new.buffers, old.buffers):
        return None
    rise = (new.buffers / old.buffers - 1) * 100 if old.buffers else math.inf
    why = (
        f"; {len(changes)} plan(s) changed (shapes below)"
        if changes
        else "; no plan changed: the statements do more work"
    )
    return Regression(
        operation=new.operation,
        variant=new.variant,
        metric=str(buffers),
        baseline=old.buffers,
        measured=new.buffers,
        indexes=new.indexes,
        rtt_ms=new.rtt_ms,
        message=f"buffers per call rose from {old.buffers:,} to {new.buffers:,} "
        f"(+{rise:.0f}%, allowed {buffers}){why}",
    )


def _regressions(
    new: Measurement, old: Measurement, checks: Sequence[LatencyCheck]
) -> list[Regression]:
    where: dict[str, Any] = {
        "operation": new.operation,
        "variant": new.variant,
        "indexes": new.indexes,
        "rtt_ms": new.rtt_ms,
    }
    counts = {metric: (getattr(new, metric), getattr(old, metric)) for metric in COUNTS}
    return [
        *count_regressions(counts, where),
        *latency_regressions(new.wall_ms, old.wall_ms, checks, where),
    ]


def count_regressions(
    counts: dict[str, tuple[int, int]], where: dict[str, Any]
) -> list[Regression]:
    """A regression for each count of :data:`COUNTS` that rose: ``{metric: (new, old)}``."""
    return [
        Regression(
            **where,
            metric=metric,
            baseline=old,
            measured=new,
            message=f"{COUNTS[metric]} rose from {old} to {new}",
        )
        for metric, (new, old) in counts.items()
        if new > old
    ]


def latency_regressions(
    new: Summary, old: Summary, checks: Sequence[LatencyCheck], where: dict[str, Any]
) -> list[Regression]:
    """A regression for each check that ``new`` fails against ``old`` (see
    :func:`latency_regression`); ``where`` names the operation and variant."""
    found = []
    for check in checks:
        regression = latency_regression(check, new, old)
        if regression is not None:
            measured, baseline, p_value = regression
            found.append(
                Regression(
                    **where,
                    metric=str(check),
                    baseline=round(baseline, 3),
                    measured=round(measured, 3),
                    p_value=p_value,
                    message=f"{check.statistic} rose from {baseline:.3f} ms to {measured:.3f} ms "
                    f"(+{(measured / baseline - 1) * 100 if baseline else math.inf:.0f}%, "
                    f"allowed {check}; Mann-Whitney p={p_value:.2g})",
                )
            )
    return found


def latency_regression(
    check: LatencyCheck, new: Summary, old: Summary
) -> tuple[float, float, float] | None:
    """``(measured, baseline, p)`` when ``new`` is slower than ``old`` by ``check``'s rule."""
    if not new.samples or not old.samples:
        return None
    measured, baseline = check.value(new), check.value(old)
    if not measured - baseline > check.allowed_rise_ms(baseline):
        return None
    p_value = mann_whitney_greater(new.samples, old.samples)
    if not p_value < check.alpha:
        return None
    return measured, baseline, p_value


def _major(server_version: Any) -> str | None:
    match = re.match(r"\d+", str(server_version)) if server_version is not None else None
    return match.group() if match else None
