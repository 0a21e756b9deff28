"""Results files as history records: what one file holds, per series key, and what makes
two files comparable.

Three kinds of files are read, each validated by its own loader first:

- ``audit``: the results of ``dalperf run``/``audit`` (:func:`dalperf.results.model.from_dict`): one
  key per operation × variant, named ``"operation/variant"``, with ``" [indexes off]"`` and
  ``" [rtt 5 ms]"`` appended for the measurements at another index state or simulated RTT;
  wall-time p50/p95 (with the order-statistic interval of p95, :mod:`.interval`), the
  per-iteration samples, and one plan shape per explained statement (its lines joined by
  newlines, in the file's order);
- ``load``: ``load.json`` of ``dalperf load`` (:func:`dalperf.results.load.from_dict`):
  one key per variant (all its requests, with their samples) and one per endpoint; queries
  and round trips are the means per request, rounded;
- ``plugin``: the pytest plugin's ``--dalperf-json`` (:mod:`dalperf.pytest_support.suite`):
  one key per test node id, its counts (no latency: a test runs once).

A variant that raised is left out (it measured nothing); a file marked ``partial`` is
refused: it is not the record of a complete run.  The *digest* is the SHA-256 of the
document in canonical form (sorted keys, no spacing), so the same results re-indented are
still the same results.  :class:`Comparability` is what a series must keep: the data scale
and seed, the schema, and the results version.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dalperf.history.interval import quantile_interval
from dalperf.results import files

AUDIT, LOAD, PLUGIN = "audit", "load", "plugin"
PLUGIN_VERSION = 1  # the --dalperf-json version this dalperf reads


@dataclass(frozen=True, slots=True)
class Figures:
    """One series key's figures in one file (a :class:`~dalperf.history.model.Point`
    without its commit)."""

    name: str
    queries: int | None = None
    round_trips: int | None = None
    network_round_trips: int | None = None
    buffers: int | None = None
    rows_fetched: int | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p95_low_ms: float | None = None
    p95_high_ms: float | None = None
    plan_shapes: tuple[str, ...] = ()
    samples_ms: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Comparability:
    """What results of one series share; another value of any of them is another series."""

    scale: str | None
    seed: str | None
    schema: str | None
    results_version: int

    def differences(self, held: Comparability) -> list[str]:
        """How these results differ from what a series ``held``, one phrase each."""
        return [
            f"{what} {mine} (file) vs {theirs} (series)"
            for what, mine, theirs in (
                ("scale", self.scale, held.scale),
                ("seed", self.seed, held.seed),
                ("schema", self.schema, held.schema),
                ("results version", self.results_version, held.results_version),
            )
            if mine != theirs
        ]


@dataclass(frozen=True, slots=True)
class Ingested:
    """A results file read for the history: its kind, digest, environment and figures."""

    kind: str
    digest: str
    source: str
    environment: dict[str, Any]
    comparability: Comparability
    figures: tuple[Figures, ...]

    @property
    def started_at(self) -> str | None:
        started = self.environment.get("started_at")
        return str(started) if started else None


def read(path: Path) -> Ingested:
    """The history record of the results file at ``path``; a file that is not one of the
    three kinds, malformed, or partial is a one-line :class:`~dalperf.errors.UsageError`."""
    return files.read(path, lambda data: from_document(data, source=path.name), what="results file")


def from_document(data: Any, *, source: str) -> Ingested:
    """:func:`read` of an already parsed document."""
    if not isinstance(data, dict):
        raise TypeError("top level is not an object")
    digest = hashlib.sha256(
        json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    if data.get("kind") == "dalperf-load":
        return _load(data, digest, source)
    if "operations" in data:
        return _audit(data, digest, source)
    if "tests" in data:
        return _plugin(data, digest, source)
    kind = data.get("kind")
    raise ValueError(
        f"a {kind} file, not results"
        if kind
        else "neither dalperf run/audit results, load.json nor the plugin's --dalperf-json"
    )


def _comparability(environment: dict[str, Any], version: int) -> Comparability:
    def text(key: str) -> str | None:
        value = environment.get(key)
        return None if value is None else str(value)

    return Comparability(
        scale=text("scale"), seed=text("seed"), schema=text("schema"), results_version=version
    )


def _refuse_partial(partial: str | None) -> None:
    if partial:
        raise ValueError(f"the run stopped early ({partial}): a partial record is not added")


def _audit(data: dict[str, Any], digest: str, source: str) -> Ingested:
    from dalperf.results.model import from_dict

    results = from_dict(data)
    _refuse_partial(results.partial)
    figures = []
    for m in results.operations:
        if m.error is not None:
            continue
        name = f"{m.operation}/{m.variant}"
        if not m.indexes:
            name += " [indexes off]"
        if m.rtt_ms:
            name += f" [rtt {m.rtt_ms:g} ms]"
        interval = quantile_interval(m.wall_ms.samples)
        figures.append(
            Figures(
                name=name,
                queries=m.queries,
                round_trips=m.round_trips,
                network_round_trips=m.network_round_trips,
                buffers=m.buffers,
                rows_fetched=m.rows_fetched,
                p50_ms=_finite(m.wall_ms.p50),
                p95_ms=_finite(m.wall_ms.p95),
                p95_low_ms=interval[0] if interval else None,
                p95_high_ms=interval[1] if interval else None,
                plan_shapes=_plan_shapes(m.plans),
                samples_ms=tuple(m.wall_ms.samples),
            )
        )
    return Ingested(
        kind=AUDIT,
        digest=digest,
        source=source,
        environment=results.environment,
        comparability=_comparability(results.environment, results.schema_version),
        figures=tuple(figures),
    )


def _plan_shapes(plans: tuple[dict[str, Any], ...]) -> tuple[str, ...]:
    from dalperf.plans.shape import plan_shape

    shapes = []
    for plan in plans:
        shape = plan.get("shape") or (plan_shape(plan["plan"]) if plan.get("plan") else None)
        if shape:
            shapes.append("\n".join(shape["lines"]))
    return tuple(shapes)


def _load(data: dict[str, Any], digest: str, source: str) -> Ingested:
    from dalperf.results.load import from_dict

    results = from_dict(data)
    _refuse_partial(results.partial)
    figures = []
    for v in results.variants:
        latency = v.latency_ms
        interval = quantile_interval(latency.samples)
        figures.append(
            Figures(
                name=v.variant,
                queries=_rounded(v.queries_per_request),
                round_trips=_rounded(v.round_trips_per_request),
                p50_ms=_finite(latency.p50),
                p95_ms=_finite(latency.p95),
                p95_low_ms=interval[0] if interval else None,
                p95_high_ms=interval[1] if interval else None,
                samples_ms=tuple(latency.samples),
            )
        )
        figures += [
            Figures(
                name=e.name,
                queries=_rounded(e.queries_per_request),
                p50_ms=_finite(e.p50_ms),
                p95_ms=_finite(e.p95_ms),
            )
            for e in v.endpoints
        ]
    return Ingested(
        kind=LOAD,
        digest=digest,
        source=source,
        environment=results.environment,
        comparability=_comparability(results.environment, results.schema_version),
        figures=tuple(figures),
    )


def _plugin(data: dict[str, Any], digest: str, source: str) -> Ingested:
    if data.get("version") != PLUGIN_VERSION:
        raise ValueError(
            f"plugin JSON version {data.get('version')!r} is not supported "
            f"(this dalperf reads version {PLUGIN_VERSION})"
        )
    tests = data["tests"]
    if not isinstance(tests, list):
        raise TypeError("tests is not a list")
    figures = []
    for index, test in enumerate(tests):
        where = f"tests[{index}]"
        if not isinstance(test, dict) or not isinstance(test.get("test"), str):
            raise TypeError(f"{where} has no test node id")
        figures.append(
            Figures(
                name=test["test"],
                queries=_count(test, "queries", where, required=True),
                round_trips=_count(test, "round_trips", where),
                network_round_trips=_count(test, "network_round_trips", where),
                rows_fetched=_count(test, "rows_fetched", where),
            )
        )
    environment = {"rtt_ms": data.get("rtt_ms")}
    return Ingested(
        kind=PLUGIN,
        digest=digest,
        source=source,
        environment=environment,
        comparability=Comparability(
            scale=None, seed=None, schema=None, results_version=PLUGIN_VERSION
        ),
        figures=tuple(figures),
    )


def _count(test: dict[str, Any], key: str, where: str, *, required: bool = False) -> int | None:
    value = test.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}.{key} is {value!r}, not a count")
    return value


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _rounded(value: float | None) -> int | None:
    return None if value is None or not math.isfinite(value) else round(value)
