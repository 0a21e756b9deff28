"""The CI gate: a results JSON against its budgets and, optionally, a baseline.

:func:`evaluate` reads nothing but the :class:`~dalperf.results.model.Results` it is given (and
the baseline's): every measurement is checked against its budget (the code default the
runner stored in it, overlaid with the :class:`~dalperf.project.budgets.BudgetSet` from
``pyproject.toml`` and ``--budgets``), then compared with the baseline
(:mod:`dalperf.gate.baseline`).  The :class:`Verdict` passes when there is no budget
violation, no regression and no failure (a variant that raised or disagreed with the
reference) in the results; with ``fail_on_missing_index``, also no index the advisor
proposed (the results' ``advice``, :mod:`dalperf.plans.advisor`).  ``dalperf check`` prints it, ``dalperf run`` records each
measurement's effective budget and violations with :func:`with_budgets`, and the HTML
report shows it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from dalperf.errors import UsageError, first_line, suggest
from dalperf.gate.baseline import (
    DEFAULT_BUFFERS_CHECK,
    DEFAULT_CHECKS,
    BuffersCheck,
    LatencyCheck,
    PlanChange,
    Regression,
    compare,
)
from dalperf.gate.budgets import Figures, breaches, shorten_sql
from dalperf.plans.findings import seq_scans
from dalperf.project.budgets import (
    DEFAULT_MAX_FAILURE_RATIO,
    LOAD_TABLE,
    SEQ_SCAN_LIMIT,
    BudgetSet,
    check_limits,
    read_budgets,
)
from dalperf.results.load import LoadResults
from dalperf.results.model import Failure, Measurement, Results
from dalperf.results.shards import REGISTERED_KEY

__all__ = [
    "DEFAULT_CHECKS",
    "BudgetSet",
    "Finding",
    "LatencyCheck",
    "Regression",
    "Verdict",
    "Violation",
    "effective_limits",
    "evaluate",
    "known_variants",
    "load_violations",
    "markdown_summary",
    "measurement_violations",
    "read_budgets",
    "with_budgets",
]


@dataclass(frozen=True)
class Violation:
    """One budget limit that one measurement exceeded."""

    operation: str
    variant: str
    limit: str
    allowed: Any
    measured: Any
    message: str
    indexes: bool = True
    rtt_ms: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One row of the gate's table: a violation, a regression or a failure, alike."""

    kind: str  # "budget" | "regression" | "error" | "mismatch"
    operation: str
    variant: str
    check: str
    allowed: Any  # the limit, or the baseline's figure
    measured: Any
    message: str
    indexes: bool = True
    rtt_ms: float = 0.0

    @property
    def detail(self) -> str:
        """The message's first line, after the conditions when they are not the defaults."""
        conditions = [
            *([] if self.indexes else ["indexes off"]),
            *([f"RTT {self.rtt_ms:g} ms"] if self.rtt_ms else []),
        ]
        prefix = f"[{', '.join(conditions)}] " if conditions else ""
        return prefix + first_line(self.message)


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The outcome of the gate."""

    passed: bool
    violations: tuple[Violation, ...]
    regressions: tuple[Regression, ...]
    failures: tuple[Failure, ...]
    checked: tuple[tuple[str, str], ...]  # every (operation, variant) in the results, in order
    notes: tuple[str, ...] = ()
    missing_indexes: tuple[dict[str, Any], ...] = ()  # proposals, with --fail-on-missing-index
    plan_changes: tuple[PlanChange, ...] = ()
    partial: str | None = None  # why the results are incomplete, when that fails the gate
    empty: bool = False  # no pair was measured: nothing can be said to be within budget
    untested: str | None = None  # with --fail-on-missing-index: candidates never built, why

    def findings(self) -> list[Finding]:
        """Violations, regressions and failures as uniform rows, in that order."""
        return [
            *(
                Finding(
                    kind="budget",
                    operation=v.operation,
                    variant=v.variant,
                    check=v.limit,
                    allowed=v.allowed,
                    measured=v.measured,
                    message=v.message,
                    indexes=v.indexes,
                    rtt_ms=v.rtt_ms,
                )
                for v in self.violations
            ),
            *(
                Finding(
                    kind="regression",
                    operation=r.operation,
                    variant=r.variant,
                    check=r.metric,
                    allowed=r.baseline,
                    measured=r.measured,
                    message=r.message,
                    indexes=r.indexes,
                    rtt_ms=r.rtt_ms,
                )
                for r in self.regressions
            ),
            *(
                Finding(
                    kind=f.kind,
                    operation=f.operation,
                    variant=f.variant,
                    check=f.kind,
                    allowed=None,
                    measured=None,
                    message=f.message,
                )
                for f in self.failures
            ),
            *(_missing_index_finding(p) for p in self.missing_indexes),
            *(
                [
                    Finding(
                        kind="partial",
                        operation="",
                        variant="",
                        check="partial",
                        allowed=None,
                        measured=None,
                        message=f"the results are partial: {self.partial}",
                    )
                ]
                if self.partial is not None
                else []
            ),
            *(
                [
                    Finding(
                        kind="empty",
                        operation="",
                        variant="",
                        check="measured",
                        allowed=None,
                        measured=None,
                        message="the results measured no operation x variant pair",
                    )
                ]
                if self.empty
                else []
            ),
            *(
                [
                    Finding(
                        kind="untested index",
                        operation="",
                        variant="",
                        check="index",
                        allowed=None,
                        measured=None,
                        message=self.untested,
                    )
                ]
                if self.untested is not None
                else []
            ),
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(
    results: Results,
    *,
    budgets: BudgetSet | None = None,
    baseline: Results | None = None,
    checks: Sequence[LatencyCheck] = DEFAULT_CHECKS,
    buffers: BuffersCheck = DEFAULT_BUFFERS_CHECK,
    allow_mismatch: bool = False,
    load: LoadResults | None = None,
    fail_on_missing_index: bool = False,
    allow_partial: bool = False,
    allow_untested: bool = False,
) -> Verdict:
    """Check ``results`` (and a load test's ``load``, against the budgets' ``load`` table)
    against budgets and ``baseline``, and with ``fail_on_missing_index`` against the
    advisor's proposals; bad budgets, or that flag without advice, raise UsageError.

    Partial results (a run that stopped early, :attr:`Results.partial`) fail the gate
    unless ``allow_partial``: what was not measured cannot be said to be within budget;
    so do results that measured no pair at all (a shard of nothing, a filter of nothing).
    With ``fail_on_missing_index``, candidate indexes the advisor could not build (a role
    without CREATE, a database it may not write) fail too unless ``allow_untested``: an
    index nobody tested is not an index found unnecessary.
    """
    budgets = budgets or BudgetSet()
    measured = known_variants(results)
    skipped = budgets.validate(results.environment.get(REGISTERED_KEY) or measured, measured)
    violations = tuple(v for m in results.operations for v in measurement_violations(m, budgets))
    pairs = [(m.operation, m.variant) for m in results.operations]
    if load is not None:
        violations += load_violations(load, budgets)
        pairs += [(LOAD_TABLE, v.variant) for v in load.variants]
    comparison = (
        compare(results, baseline, checks=checks, buffers=buffers, allow_mismatch=allow_mismatch)
        if baseline is not None
        else None
    )
    regressions = comparison.regressions if comparison else ()
    notes = (*skipped, *(comparison.notes if comparison else ()))
    missing: tuple[dict[str, Any], ...] = ()
    untested: str | None = None
    if fail_on_missing_index:
        if results.advice is None:
            raise UsageError(
                "--fail-on-missing-index needs results with index advice; run "
                "`dalperf run --advise` (or `dalperf audit --advise`)"
            )
        missing = tuple(results.advice["proposals"])
        if results.advice.get("note"):
            notes = (*notes, f"index advice: {results.advice['note']}")
        untested = None if allow_untested else untested_candidates(results.advice)
    partial = results.partial if not allow_partial else None
    return Verdict(
        passed=not (
            violations
            or regressions
            or results.failures
            or missing
            or partial is not None
            or not pairs
            or untested is not None
        ),
        violations=violations,
        regressions=regressions,
        failures=results.failures,
        checked=tuple(dict.fromkeys(pairs)),
        notes=notes,
        missing_indexes=missing,
        plan_changes=comparison.plan_changes if comparison else (),
        partial=partial,
        empty=not pairs,
        untested=untested,
    )


def untested_candidates(advice: dict[str, Any]) -> str | None:
    """One line on the advice's candidate indexes that were never built, or ``None``."""
    from dalperf.plans.advisor import NOT_TESTED

    untested = [
        c for s in advice["statements"] for c in s["candidates"] if c["status"] == NOT_TESTED
    ]
    if not untested:
        return None
    total = sum(len(s["candidates"]) for s in advice["statements"])
    why = untested[0].get("reason") or advice.get("note") or "no reason recorded"
    return (
        f"{len(untested)} of {total} candidate index(es) not tested ({first_line(why)}); "
        "--allow-untested gates on the tested ones"
    )


def _missing_index_finding(proposal: dict[str, Any]) -> Finding:
    """A proposed index as a row of the gate: the first operation it serves, the figures of
    its first statement, the CREATE INDEX statement."""
    operation, _, variant = (proposal["operations"] or ["? [?]"])[0].partition(" [")
    first = proposal["statements"][0]
    return Finding(
        kind="missing index",
        operation=operation,
        variant=variant.rstrip("]"),
        check="index",
        allowed=f"{first['before_ms']:.3f} ms",
        measured=f"{first['after_ms']:.3f} ms",
        message=f"{proposal['create']} (serves {', '.join(proposal['operations'])})",
    )


_LOAD_MESSAGES = {
    "min_rps": "{value:.1f} requests/s under load, budget at least {allowed:g}",
    "max_p95_ms": "p95 {value:.1f} ms under load, budget {allowed:g} ms",
    "max_failure_ratio": "{value:.2%} of requests failed under load, budget {allowed:.2%}",
}


def load_violations(load: LoadResults, budgets: BudgetSet) -> tuple[Violation, ...]:
    """The ``[load.<variant>]`` limits the load test's figures break (operation ``load``).

    Every variant is held to :data:`DEFAULT_MAX_FAILURE_RATIO` unless its table sets its
    own ``max_failure_ratio``: a load test whose requests mostly failed is no pass.
    """
    found = []
    tables = {
        variant: {"max_failure_ratio": DEFAULT_MAX_FAILURE_RATIO}
        for variant in (v.variant for v in load.variants)
    }
    for (table, variant), limits in budgets.entries.items():
        if table != LOAD_TABLE:
            continue
        if variant not in tables:
            known = [v.variant for v in load.variants]
            raise UsageError(
                f"{budgets.origins[(table, variant)]}: the load results have no "
                f"variant {variant!r}{suggest(variant, known)}"
            )
        tables[variant] = {**tables[variant], **limits}
    for variant, limits in tables.items():
        figures = load.variant(variant)
        measured = {
            "min_rps": figures.rps,
            "max_p95_ms": figures.latency_ms.p95,
            "max_failure_ratio": figures.failure_ratio,
        }
        for limit, allowed in limits.items():
            value = measured[limit]
            within = value >= allowed if limit == "min_rps" else value <= allowed
            if within and not math.isnan(value):
                continue
            found.append(
                Violation(
                    LOAD_TABLE,
                    variant,
                    limit,
                    allowed,
                    round(value, 3),
                    _LOAD_MESSAGES[limit].format(value=value, allowed=allowed),
                )
            )
    return tuple(found)


def known_variants(results: Results) -> dict[str, list[str]]:
    """Operation -> variants, as the results hold them: what budgets may name."""
    known: dict[str, list[str]] = {}
    for m in results.operations:
        variants = known.setdefault(m.operation, [])
        if m.variant not in variants:
            variants.append(m.variant)
    return known


def effective_limits(measurement: Measurement, budgets: BudgetSet) -> dict[str, Any]:
    """The measurement's stored budget (validated) overlaid with ``budgets``."""
    stored = check_limits(
        measurement.budget,
        where=f"results: budget of {measurement.operation} [{measurement.variant}]",
    )
    return budgets.limits(measurement.operation, measurement.variant, stored)


def measurement_violations(measurement: Measurement, budgets: BudgetSet) -> list[Violation]:
    """The limits ``measurement`` exceeds; none for a variant that raised (a failure already).

    ``no_seq_scan_over_rows`` is not checked without the performance indexes (``--indexes
    off``), where sequential scans are what the comparison shows.
    """
    if measurement.error is not None:
        return []
    m = measurement
    figures = Figures(
        queries=m.queries,
        round_trips=m.round_trips,
        rows_fetched=m.rows_fetched,
        network_round_trips=m.network_round_trips,
        p95_ms=m.wall_ms.p95,
        n_plus_one=m.n_plus_one,
        complexity=m.complexity.verdict if m.complexity else None,
        buffers=m.buffers,
        seq_scans=tuple(seq_scans(m.plans)) if m.plans else None,
    )
    limits = effective_limits(m, budgets)
    if not m.indexes:
        limits.pop(SEQ_SCAN_LIMIT, None)
    return [
        Violation(
            m.operation,
            m.variant,
            b.limit,
            b.allowed,
            b.measured,
            b.message,
            indexes=m.indexes,
            rtt_ms=m.rtt_ms,
        )
        for b in breaches(limits, figures)
    ]


def with_budgets(results: Results, budgets: BudgetSet) -> Results:
    """``results`` with each measurement's ``budget`` (effective limits) and ``violations``
    filled in; what ``dalperf run`` writes."""
    measurements = []
    for m in results.operations:
        violations = measurement_violations(m, budgets)
        measurements.append(
            dataclasses.replace(
                m,
                budget=effective_limits(m, budgets),
                violations=tuple(
                    {
                        "limit": v.limit,
                        "allowed": v.allowed,
                        "measured": v.measured,
                        "message": v.message,
                    }
                    for v in violations
                ),
            )
        )
    return dataclasses.replace(results, operations=tuple(measurements))


def markdown_summary(verdict: Verdict) -> str:
    """The verdict as Markdown, for ``$GITHUB_STEP_SUMMARY``."""
    findings = verdict.findings()
    status = "passed" if verdict.passed else "failed"
    lines = [
        f"## dalperf check {status}",
        "",
        (
            f"{len(verdict.checked)} operation x variant pairs checked: "
            f"{len(verdict.violations)} budget violation(s), "
            f"{len(verdict.regressions)} regression(s), {len(verdict.failures)} failure(s)"
            + (
                f", {len(verdict.missing_indexes)} missing index(es)"
                if verdict.missing_indexes
                else ""
            )
            + "."
        ),
        "",
    ]
    if verdict.partial is not None:
        lines += [f"**Partial results**: {_cell(verdict.partial)}", ""]
    if findings:
        lines += [
            "| kind | operation | variant | check | allowed / baseline | measured | detail |",
            "| --- | --- | --- | --- | ---: | ---: | --- |",
        ]
        lines += [
            f"| {f.kind} | {f.operation} | {f.variant} | {f.check} | {_cell(f.allowed)} | "
            f"{_cell(f.measured)} | {_cell(f.detail)} |"
            for f in findings
        ]
        lines.append("")
    for change in verdict.plan_changes:
        outcome = " (failed: buffers rose)" if change.failed else ""
        lines += [
            f"### plan change: {change.operation} [{change.variant}]{outcome}",
            "",
            f"`{_cell(shorten_sql(change.sql))}`",
            "",
            "| baseline | results |",
            "| --- | --- |",
        ]
        lines += [
            f"| `{_cell(old)}` | `{_cell(new)}` |" if old or new else "| | |"
            for old, new in side_by_side(change)
        ]
        lines.append("")
    return "\n".join(lines) + "\n"


def side_by_side(change: PlanChange) -> list[tuple[str, str]]:
    """The two shapes of a plan change as rows of (baseline line, results line)."""
    rows = max(len(change.baseline), len(change.measured))
    return [
        (
            change.baseline[i] if i < len(change.baseline) else "",
            change.measured[i] if i < len(change.measured) else "",
        )
        for i in range(rows)
    ]


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|")
