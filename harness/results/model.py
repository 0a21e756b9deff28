"""The results JSON: the contract between measuring and everything that reads measurements.

``dalperf run`` writes one :class:`Results`; report, check and baseline read it back with
:func:`read_results` and never touch a database.  The file is versioned: :data:`SCHEMA_VERSION`
rises whenever a field changes meaning, and :func:`read_results` refuses versions it does not know
instead of misreading them.

Shape (schema_version 1)::

    {"schema_version": 1,
     "environment": {"server_version", "scale", "seed", "python", "sqlalchemy", "dalperf",
                     "started_at", "machine", "iterations", "warmup", ...},
     "operations": [Measurement, ...],          one per operation x variant x indexes x rtt
     "failures": [{"operation", "variant", "kind", "message"}, ...],
     "partial": null | "why the run stopped early (the database went away, ...)",
     "catalog": {operation: {"description", "variants": {name: description},
                             "claims": {variant: {...}}, "size": {"name", "default"} | null,
                             "mutates"}}}

``buffers`` and ``rows_read`` in a measurement, and ``work`` and ``shape`` in each of its
plans, were added later in version 1 (files without them read as ``None``: not measured).
``catalog`` describes the operations themselves (added in version 1; files without it read
as an empty catalog).  ``plans`` in a measurement (one EXPLAIN per distinct statement shape
of the first measured call) and ``index_audit`` at the top come from :mod:`dalperf.plans.explain`
(read by :mod:`dalperf.plans.findings`) and :mod:`dalperf.plans.index_audit`; files without them read as
having no plans and no audit.

``advice`` at the top (optional; ``dalperf run --advise``, :mod:`dalperf.plans.advisor`) has a
version of its own; files without it read as having no advice::

    {"version": 1, "built": bool, "note": null | "why nothing was built (explain only)",
     "config": {"min_time_gain", "min_buffer_gain", "lock_timeout_ms",
                "statement_timeout_ms", "write_repeats", "seq_scan_rows"},
     "candidates_built": int, "elapsed_s": float,
     "statements": [{"fingerprint", "sql", "operations": ["op [variant]", ...], "reasons",
                     "before": stored plan, "proposal": candidate name | null,
                     "candidates": [{"name", "table", "columns", "include", "reasons",
                                     "create", "alembic", "status": "kept" | "rejected" |
                                     "not tested", "reason", "after": stored plan | null,
                                     "size_bytes", "uses_index", "time_gain",
                                     "buffer_gain"}, ...]}, ...],
     "proposals": [{"name", "table", "columns", "include", "create", "alembic", "size_bytes",
                    "operations", "covered_by": [names of wider proposals that start with
                    its columns (they may serve its statements too; not measured)],
                    "statements": [{"fingerprint", "before_ms", "after_ms",
                                                  "before_buffers", "after_buffers"}],
                    "write_cost": [WriteCost, ...]}, ...],
     "redundant": [{"name", "schema", "table", "columns", "kind": "duplicate" | "prefix" |
                    "unused", "why", "size_bytes", "drop", "write_cost": [WriteCost]}, ...]}

    WriteCost: {"operation", "variant", "calls", "with_index_ms", "without_index_ms",
                "cost_ms" (with minus without, median database time per call), "error"}

A stored plan is :func:`dalperf.plans.findings.describe`'s form (``execution_ms``,
``buffers``, ``plan``, ``findings``, ...).

See :class:`Measurement` for the fields of one entry.  The shape is declared once, as JSON
Schema, in ``schema.json`` (``$defs.results``); :func:`from_dict` validates against it
(:mod:`dalperf.results.schema`) before building the records: a field added here is declared there.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dalperf.results import files, schema
from dalperf.results.files import as_float
from dalperf.results.stats import Summary

SCHEMA_VERSION = 1
ADVICE_VERSION = 1  # the version of the ``advice`` section this dalperf reads


@dataclass(frozen=True, kw_only=True)
class Complexity:
    """Query count fitted against the operation's size knob: ``O(1)`` or ``O(n)`` with a slope."""

    verdict: str
    slope: float
    intercept: float
    sizes: tuple[int, ...]
    queries: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One operation x variant, measured at one index state and one simulated RTT.

    ``queries``/``round_trips``/``network_round_trips``/``rows_fetched`` are the largest
    per-call figures over the iterations (budgets are about the worst input), and
    ``*_per_call`` keep every iteration's figure.  ``fingerprints``, ``n_plus_one`` and
    ``hidden_round_trips`` describe the first measured call with the operation's default inputs.
    ``equivalent`` is ``None`` for the reference variant, which others are compared with.
    ``buffers`` and ``rows_read`` are the server's work for the variant's first call, every
    statement of it replayed under EXPLAIN (ANALYZE, BUFFERS) (:mod:`dalperf.plans.shape`):
    shared buffers hit + read and temp blocks read + written, and rows the relation scans
    read; each plan's ``work`` holds its statement's share and ``shape`` its plan shape.
    ``None`` without plans (``--no-explain``, or a results file written before they were).
    """

    operation: str
    variant: str
    indexes: bool
    rtt_ms: float
    size: int | None
    queries: int
    round_trips: int
    network_round_trips: int
    rows_fetched: int
    rows_returned: int
    queries_per_call: tuple[int, ...]
    round_trips_per_call: tuple[int, ...]
    db_ms: Summary
    wall_ms: Summary
    fingerprints: tuple[dict[str, Any], ...]
    n_plus_one: tuple[dict[str, Any], ...]
    hidden_round_trips: tuple[dict[str, Any], ...]
    equivalent: bool | None
    error: str | None = None
    complexity: Complexity | None = None
    budget: dict[str, Any] = field(default_factory=dict)
    violations: tuple[dict[str, Any], ...] = ()
    plans: tuple[dict[str, Any], ...] = ()
    findings: tuple[dict[str, Any], ...] = ()
    buffers: int | None = None
    rows_read: int | None = None
    network_round_trips_per_call: tuple[int, ...] = ()

    @property
    def typical_network_round_trips(self) -> int:
        """The median call's network round trips (the largest when calls were not kept).

        On asyncpg a call on a connection that has not prepared its statements yet costs
        more round trips than the next one, so the largest and the typical call differ;
        the latency model predicts median wall time, so it multiplies this one.
        """
        per_call = self.network_round_trips_per_call
        return statistics.median_low(per_call) if per_call else self.network_round_trips

    @property
    def key(self) -> tuple[str, str, bool, float]:
        return (self.operation, self.variant, self.indexes, self.rtt_ms)


@dataclass(frozen=True, kw_only=True)
class Failure:
    """Something that makes a run fail besides a budget: a variant that raised, a mismatch."""

    operation: str
    variant: str
    kind: str  # "error" | "mismatch"
    message: str


@dataclass(frozen=True, kw_only=True)
class Results:
    """Everything one ``dalperf run`` measured."""

    environment: dict[str, Any]
    operations: tuple[Measurement, ...]
    failures: tuple[Failure, ...] = ()
    catalog: dict[str, Any] = field(default_factory=dict)
    index_audit: dict[str, Any] | None = None
    advice: dict[str, Any] | None = None
    partial: str | None = None  # why the run stopped before measuring everything; None: complete
    schema_version: int = SCHEMA_VERSION

    def measurement(
        self, operation: str, variant: str, *, indexes: bool = True, rtt_ms: float = 0.0
    ) -> Measurement:
        for m in self.operations:
            if m.key == (operation, variant, indexes, rtt_ms):
                return m
        raise KeyError((operation, variant, indexes, rtt_ms))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"schema_version": data.pop("schema_version"), **data}

    def dumps(self) -> str:
        return files.dumps(self.to_dict())

    def save(self, path: Path) -> None:
        """Write atomically: a crash mid-write never leaves half a results file."""
        files.write_atomic(path, self.dumps(), what="results file")


def read_results(path: Path) -> Results:
    """Read a results file; any problem is a one-line :class:`UsageError` naming the file."""
    return files.read(path, from_dict, what="results file")


def from_dict(data: Any) -> Results:
    """The record of a parsed results document, validated first against the declared
    schema (:mod:`dalperf.results.schema`); a mismatch raises :class:`~dalperf.results.schema.SchemaError`."""
    if not isinstance(data, dict):
        raise TypeError("top level is not an object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"schema_version {version!r} is not supported "
            f"(this dalperf reads version {SCHEMA_VERSION})"
        )
    schema.validate(data, "results")
    return Results(
        environment=dict(data["environment"]),
        operations=tuple(_measurement(m) for m in data["operations"]),
        failures=tuple(Failure(**f) for f in data.get("failures", ())),
        catalog=dict(data.get("catalog", {})),
        index_audit=data.get("index_audit"),
        advice=_advice(data.get("advice")),
        partial=data.get("partial"),
    )


def _advice(data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    if not isinstance(data, dict) or data.get("version") != ADVICE_VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        raise ValueError(
            f"advice version {version!r} is not supported (this dalperf reads "
            f"version {ADVICE_VERSION})"
        )
    return data


def _measurement(data: dict[str, Any]) -> Measurement:
    values = dict(data)
    for name in ("db_ms", "wall_ms"):
        summary = dict(values[name])
        summary["samples"] = tuple(summary.get("samples", ()))
        fields: dict[str, Any] = {
            k: as_float(v) if k != "samples" else v for k, v in summary.items()
        }
        values[name] = Summary(**fields)
    for name in (
        "queries_per_call",
        "round_trips_per_call",
        "network_round_trips_per_call",
        "fingerprints",
        "n_plus_one",
        "hidden_round_trips",
        "violations",
        "plans",
        "findings",
    ):
        values[name] = tuple(values.get(name, ()))
    if values.get("complexity") is not None:
        complexity = dict(values["complexity"])
        complexity["sizes"] = tuple(complexity["sizes"])
        complexity["queries"] = tuple(complexity["queries"])
        values["complexity"] = Complexity(**complexity)
    return Measurement(**values)
