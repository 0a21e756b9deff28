"""What each section of the report says: the template context, built from results and verdict.

The report's sections, in order: the verdict banner, the environment, the summary table,
the overall impact, one section per operation, then the optional sections, each present
only when the results hold what it shows (:data:`OPTIONAL_SECTIONS`: its template partial
and the context key that must be non-empty).  A later kind of measurement adds a section by
adding its partial under ``reports/templates/``, a builder here and one entry in that list.

Everything here reads the :class:`~dalperf.results.model.Results` and the
:class:`~dalperf.gate.check.Verdict` (computed from the results, never from a database).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from dalperf.gate.check import Verdict, Violation, effective_limits
from dalperf.project.budgets import BudgetSet
from dalperf.project.config import VARIANT_ROLES_KEY
from dalperf.report import charts, plan_views, tables
from dalperf.report.advice_view import advice_view
from dalperf.report.drivers import driver_label, side_by_side
from dalperf.report.loadtest import load_view
from dalperf.results.load import LoadResults
from dalperf.results.model import Complexity, Failure, Measurement, Results

OPTIONAL_SECTIONS: tuple[tuple[str, str], ...] = (
    ("_index_impact.html.j2", "index_impact"),
    ("_rtt_sweep.html.j2", "rtt_sweeps"),
    ("_index_audit.html.j2", "index_audit"),
    ("_advice.html.j2", "advice"),
    ("_load.html.j2", "load"),
    ("_drivers.html.j2", "drivers"),
)
LIMIT_LABELS = {
    "max_queries": "queries ≤ {}",
    "max_round_trips": "round trips ≤ {}",
    "max_rows_fetched": "rows fetched ≤ {}",
    "max_buffers": "buffers ≤ {}",
    "p95_ms": "p95 ≤ {} ms",
    "no_n_plus_one": "no N+1",
    "complexity": "complexity {}",
    "no_seq_scan_over_rows": "no Seq Scan over {} rows",
}


@dataclass(frozen=True, kw_only=True)
class Check:
    """One line of the verdict banner."""

    label: str
    ok: bool
    text: str


@dataclass(frozen=True, kw_only=True)
class VariantView:
    """One variant inside an operation's section."""

    name: str
    role: str  # "before" | "ours" | ""
    description: str
    colour: str
    measurement: Measurement
    limits: tuple[str, ...]
    violations: tuple[Violation, ...]
    equivalence: str  # "reference" | "equivalent" | "mismatch" | "not compared"

    @property
    def budget_status(self) -> str:
        if self.measurement.error is not None:
            return "error"
        if self.violations:
            return "failed"
        return "passed" if self.limits else "not gated"


@dataclass(frozen=True, kw_only=True)
class OperationView:
    """One operation's section."""

    name: str
    anchor: str
    description: str
    size: str
    mutates: bool
    variants: tuple[VariantView, ...]
    failures: tuple[Failure, ...]
    chart: Markup
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    complexity: tuple[tuple[str, Complexity], ...] = field(default=())

    @property
    def equivalence_ok(self) -> bool:
        return all(v.equivalence in ("reference", "equivalent") for v in self.variants)

    @property
    def budgets_ok(self) -> bool:
        return all(v.budget_status in ("passed", "not gated") for v in self.variants)

    @property
    def n_plus_one(self) -> list[tuple[str, dict[str, Any]]]:
        return [(v.name, finding) for v in self.variants for finding in v.measurement.n_plus_one]

    @property
    def findings(self) -> list[tuple[str, dict[str, Any]]]:
        """The ORM-aware findings (:mod:`dalperf.capture.findings`) of every variant."""
        return [(v.name, finding) for v in self.variants for finding in v.measurement.findings]


def context(
    results: Results,
    verdict: Verdict,
    budgets: BudgetSet,
    *,
    baseline: str | None = None,
    load: LoadResults | None = None,
    beside: Sequence[Results] = (),
) -> dict[str, Any]:
    """Everything the templates show, by section; ``baseline`` names the baseline compared,
    ``load`` is a load test's results (the load-test section), ``beside`` results of the
    same operations through other drivers (the drivers section)."""
    rows = tables.summary_rows(results)
    impact = tables.overall_impact(rows)
    sweeps = tables.rtt_sweeps(results)
    values: dict[str, Any] = {
        "title": "dalperf audit report",
        "verdict": verdict,
        "checks": banner(results, verdict, baseline),
        "environment": environment(results),
        "env": dict(environment(results)),
        "columns": tables.variant_columns(tables.variant_orders(results)),
        "column_roles": variant_roles(
            results, tables.variant_columns(tables.variant_orders(results))
        ),
        "rows": rows,
        "anchors": {r.operation: anchor(r.operation) for r in rows},
        "impact": impact,
        "claimed": any(r.claimed_faster_pct is not None for r in rows),
        "speedup_chart": charts.speedup_chart(rows, title="speed-up per operation")
        if rows
        else None,
        "operations": operations(results, verdict, budgets),
        "index_impact": tables.index_impact(results),
        "rtt_sweeps": [
            (s, charts.rtt_chart(s, title=f"{s.operation}: wall time against RTT")) for s in sweeps
        ],
        "failures": results.failures,
        "plans": plan_views.operation_plans(results),
        "index_audit": plan_views.index_audit_view(results),
        "advice": advice_view(results),
        "load": load_view(load) if load is not None else None,
        "drivers": side_by_side(results, beside),
    }
    values["optional_sections"] = [partial for partial, key in OPTIONAL_SECTIONS if values[key]]
    return values


def variant_roles(results: Results, order: Sequence[str]) -> dict[str, str]:
    """The labels of an operation's variants.  A project's results record its configured
    ``variants`` (``reference``, ``ours``): only those are labelled, the reference also when
    unnamed (it is what equivalence compares with).  Results without the record (the case
    study's) label by position: the first ``before``, the last ``ours``."""
    roles = results.environment.get(VARIANT_ROLES_KEY)
    if roles is None:
        return {order[0]: "before", order[-1]: "ours"} if order else {}
    labels = {name: role for role, name in roles.items() if name in order}
    if "reference" not in roles and order:
        labels.setdefault(order[0], "reference")
    return labels


def banner(results: Results, verdict: Verdict, baseline: str | None) -> list[Check]:
    """The verdict's lines: budgets, equivalence, errors, regressions."""
    mismatches = [f for f in verdict.failures if f.kind == "mismatch"]
    errors = [f for f in verdict.failures if f.kind != "mismatch"]
    compared = sum(1 for m in results.operations if m.equivalent is not None)
    pairs = len(verdict.checked)
    complete = (
        []
        if results.partial is None
        else [
            Check(
                label="Partial results",
                ok=False,
                text=f"the run stopped early, not every operation was measured: {results.partial}",
            )
        ]
    )
    return [
        *complete,
        Check(
            label="Budgets",
            ok=not verdict.violations,
            text=f"{len(verdict.violations)} violation(s) in {pairs} operation × variant pairs"
            if verdict.violations
            else f"all {pairs} operation × variant pairs within budget",
        ),
        Check(
            label="Equivalence",
            ok=not mismatches,
            text=f"{len(mismatches)} variant(s) returned a different result"
            if mismatches
            else f"all {compared} compared variants returned the reference's result",
        ),
        Check(
            label="Errors",
            ok=not errors,
            text=f"{len(errors)} variant(s) raised" if errors else "no variant raised",
        ),
        Check(
            label="Regressions",
            ok=not verdict.regressions,
            text=f"{len(verdict.regressions)} regression(s) against the baseline"
            if verdict.regressions
            else (
                f"none against the baseline {baseline}"
                if baseline is not None
                else "no baseline compared"
            ),
        ),
    ]


def environment(results: Results) -> list[tuple[str, str]]:
    """The environment table: where and how the measurements were made."""
    env = results.environment
    rtts = sorted({m.rtt_ms for m in results.operations})
    rtt = ", ".join(f"{r:g} ms" for r in rtts) if rtts else "n/a"
    if rtts == [0.0]:
        rtt = "0 ms (database on localhost, no simulated latency)"
    entries = [
        ("PostgreSQL", env.get("server_version")),
        ("Data scale", env.get("scale")),
        ("Data seed", env.get("seed")),
        ("Schema", env.get("schema")),
        ("Shards", ", ".join(str(s) for s in env.get("shards") or ()) or env.get("shard")),
        ("Simulated RTT", rtt),
        ("dalperf", env.get("dalperf")),
        ("Date", _date(env.get("started_at"))),
        ("Iterations", _iterations(env)),
        ("Driver", driver_label(results)),
        (
            "Python / SQLAlchemy / psycopg",
            " / ".join(str(env[k]) for k in ("python", "sqlalchemy", "psycopg") if k in env),
        ),
        ("Machine", env.get("machine")),
    ]
    return [(label, _text(value)) for label, value in entries if value not in (None, "")]


def operations(results: Results, verdict: Verdict, budgets: BudgetSet) -> list[OperationView]:
    """One view per operation, from the measurements of the run's primary configuration."""
    primary = tables.primary(tables.frame(results))
    keep = {(row.operation, row.variant, row.indexes, row.rtt_ms) for row in primary.itertuples()}
    orders = tables.variant_orders(results)
    views = []
    for name, order in orders.items():
        measured = {
            m.variant: m for m in results.operations if m.operation == name and m.key in keep
        }
        entry = results.catalog.get(name, {})
        palette = charts.colours(order)
        variants = tuple(
            _variant_view(results, measured[v], order, palette[v], entry, verdict, budgets)
            for v in order
            if v in measured
        )
        views.append(
            OperationView(
                name=name,
                anchor=anchor(name),
                description=entry.get("description", ""),
                size=tables.size_label(entry),
                mutates=bool(entry.get("mutates", False)),
                variants=variants,
                failures=tuple(f for f in results.failures if f.operation == name),
                chart=charts.latency_chart(
                    {v.name: v.measurement.wall_ms.samples for v in variants},
                    title=f"{name}: wall time per call",
                ),
                claims=dict(entry.get("claims", {})),
                complexity=tuple(
                    (v.name, v.measurement.complexity)
                    for v in variants
                    if v.measurement.complexity is not None
                ),
            )
        )
    return views


def anchor(name: str) -> str:
    """A fragment id for an operation's section (letters, digits and dashes only)."""
    return "op-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _variant_view(
    results: Results,
    m: Measurement,
    order: Sequence[str],
    colour: str,
    entry: dict[str, Any],
    verdict: Verdict,
    budgets: BudgetSet,
) -> VariantView:
    role = variant_roles(results, order).get(m.variant, "")
    limits = effective_limits(m, budgets)
    if m.error is not None:
        equivalence = "not compared"
    elif m.equivalent is None:
        equivalence = "reference"
    else:
        equivalence = "equivalent" if m.equivalent else "mismatch"
    return VariantView(
        name=m.variant,
        role=role,
        description=entry.get("variants", {}).get(m.variant, ""),
        colour=colour,
        measurement=m,
        limits=tuple(
            LIMIT_LABELS[k].format(_text(v))
            for k, v in limits.items()
            if v is not None and v is not False
        ),
        violations=tuple(
            v for v in verdict.violations if (v.operation, v.variant, v.indexes, v.rtt_ms) == m.key
        ),
        equivalence=equivalence,
    )


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _date(value: Any) -> str | None:
    """An ISO timestamp as ``2025-10-04 12:00:00 UTC``; anything else as it is."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None if value is None else str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if moment.tzinfo else "")


def _iterations(env: dict[str, Any]) -> str:
    if "iterations" not in env:
        return ""
    return (
        f"{env['iterations']} measured + {env.get('warmup', 0)} warm-up calls per variant, "
        f"{env.get('param_sets', 1)} input sets"
    )
