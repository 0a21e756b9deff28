"""The load results JSON: what ``dalperf load`` measured, the contract with report and check.

Like the results file of ``dalperf run`` (:mod:`dalperf.results.model`), it is versioned
(:data:`SCHEMA_VERSION`, plus ``"kind": "dalperf-load"`` so that the two files are never
confused) and read back with :func:`load`, which refuses unknown versions and fields.  It is
built by :func:`summarise` from one :class:`Request` per request that locust sent (exact
float milliseconds, the app's query count), and read by the report and the gate without a
database, an app or locust.

Shape (schema_version 1)::

    {"schema_version": 1, "kind": "dalperf-load",
     "environment": {"users", "spawn_rate", "run_time_s", "workers", "rtt_ms", "pool_size",
                     "variants", "app", "locustfile", "locust", "server_version", "scale", ...},
     "duration_s": 58.2,                 first request sent to last answer received
     "variants": [{"variant", "users", "requests", "failures", "rps",
                   "latency_ms": {"p50", "p95", "p99", "min", "max", "mean", "samples"},
                   "queries_per_request", "round_trips_per_request",
                   "endpoints": [{"name", "requests", "failures", "rps", "p50_ms", "p95_ms",
                                  "p99_ms", "queries_per_request"}],
                   "errors": [{"name", "error", "count"}]}],
     "nodes": {"local" | worker id: requests},
     "locust": {"requests", "failures"}}  the master's own totals, a cross-check
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

from dalperf.errors import UsageError
from dalperf.results import files, schema
from dalperf.results.files import as_float
from dalperf.results.stats import Summary

SCHEMA_VERSION = 1
KIND = "dalperf-load"


# --------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EndpointLoad:
    """One request name (e.g. ``GET /optimized/user-stats``) of one variant."""

    name: str
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    queries_per_request: float | None


@dataclass(frozen=True, kw_only=True)
class VariantLoad:
    """What the users of one variant got: throughput, exact latency, database work."""

    variant: str
    users: int
    requests: int
    failures: int
    rps: float
    latency_ms: Summary
    queries_per_request: float | None  # mean over the requests that reported it
    round_trips_per_request: float | None
    endpoints: tuple[EndpointLoad, ...]
    errors: tuple[dict[str, Any], ...] = ()  # {"name", "error", "count"}, most frequent first

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True, kw_only=True)
class LoadResults:
    """Everything one ``dalperf load`` measured.

    ``duration_s`` is the span the throughputs are computed over; ``nodes`` counts the
    requests each locust process sent (``local``, or each worker's id); ``locust`` holds
    the master's own aggregated totals, which must agree with the records.
    """

    environment: dict[str, Any]
    duration_s: float
    variants: tuple[VariantLoad, ...]
    nodes: dict[str, int] = field(default_factory=dict)
    locust: dict[str, int] = field(default_factory=dict)
    partial: str | None = None  # why the figures are not a healthy run's (the database went away)
    kind: str = KIND
    schema_version: int = SCHEMA_VERSION

    def variant(self, name: str) -> VariantLoad:
        for v in self.variants:
            if v.variant == name:
                return v
        known = ", ".join(v.variant for v in self.variants) or "none"
        raise UsageError(f"the load results have no variant {name!r} (they have {known})")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"schema_version": data.pop("schema_version"), "kind": data.pop("kind"), **data}

    def dumps(self) -> str:
        return files.dumps(self.to_dict())

    def save(self, path: Path) -> None:
        """Write atomically, like the results file."""
        files.write_atomic(path, self.dumps(), what="load results file")


def read_load_results(path: Path) -> LoadResults:
    """Read a load results file; any problem is a one-line :class:`UsageError`."""
    return files.read(path, from_dict, what="load results file")


def from_dict(data: Any) -> LoadResults:
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ValueError(f'not a dalperf load results file (no "kind": "{KIND}")')
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"schema_version {data.get('schema_version')!r} is not supported "
            f"(this dalperf reads version {SCHEMA_VERSION})"
        )
    schema.validate(data, "load")
    return LoadResults(
        environment=dict(data["environment"]),
        duration_s=float(data["duration_s"]),
        variants=tuple(_variant(v) for v in data["variants"]),
        nodes=dict(data.get("nodes", {})),
        locust=dict(data.get("locust", {})),
        partial=data.get("partial"),
    )


def _variant(data: dict[str, Any]) -> VariantLoad:
    values = dict(data)
    latency = dict(values["latency_ms"])
    latency["samples"] = tuple(latency.get("samples", ()))
    summary: dict[str, Any] = {k: v if k == "samples" else as_float(v) for k, v in latency.items()}
    values["latency_ms"] = Summary(**summary)
    endpoints = []
    for endpoint in values["endpoints"]:
        figures: dict[str, Any] = {
            k: as_float(v) if k.endswith("_ms") else v for k, v in endpoint.items()
        }
        endpoints.append(EndpointLoad(**figures))
    values["endpoints"] = tuple(endpoints)
    values["errors"] = tuple(values.get("errors", ()))
    return VariantLoad(**values)


# --------------------------------------------------------------------------------------
# From per-request records to the record
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the recorder kept it (a row of the records file)."""

    start: float  # epoch seconds
    ms: float
    variant: str | None
    name: str
    ok: bool
    queries: int | None
    round_trips: int | None
    user: Any
    error: str | None
    node: str


def summarise(
    requests: Sequence[Request],
    *,
    variants: Sequence[str],
    environment: Mapping[str, Any],
    locust_totals: Mapping[str, int] | None = None,
) -> LoadResults:
    """The :class:`LoadResults` of a run's requests (``variants`` in the order to report)."""
    if requests:
        begin = min(r.start for r in requests)
        duration = max(r.start + r.ms / 1000 for r in requests) - begin
    else:
        duration = 0.0
    by_variant: dict[str | None, list[Request]] = defaultdict(list)
    for r in requests:
        by_variant[r.variant].append(r)
    return LoadResults(
        environment=dict(environment),
        duration_s=round(duration, 3),
        variants=tuple(_variant_load(v, by_variant.get(v, []), duration) for v in variants),
        nodes=dict(sorted(Counter(r.node for r in requests).items())),
        locust=dict(locust_totals or {}),
    )


def _variant_load(variant: str, requests: Sequence[Request], duration: float) -> VariantLoad:
    names: dict[str, list[Request]] = defaultdict(list)
    for r in requests:
        names[r.name].append(r)
    errors = Counter((r.name, r.error) for r in requests if not r.ok)
    return VariantLoad(
        variant=variant,
        users=len({(r.node, r.user) for r in requests}),
        requests=len(requests),
        failures=sum(not r.ok for r in requests),
        rps=_rate(len(requests), duration),
        latency_ms=Summary.of([r.ms for r in requests]),
        queries_per_request=_mean(r.queries for r in requests),
        round_trips_per_request=_mean(r.round_trips for r in requests),
        endpoints=tuple(_endpoint(name, rows, duration) for name, rows in sorted(names.items())),
        errors=tuple(
            {"name": name, "error": error or "", "count": count}
            for (name, error), count in errors.most_common()
        ),
    )


def _endpoint(name: str, requests: Sequence[Request], duration: float) -> EndpointLoad:
    latency = Summary.of([r.ms for r in requests])
    return EndpointLoad(
        name=name,
        requests=len(requests),
        failures=sum(not r.ok for r in requests),
        rps=_rate(len(requests), duration),
        p50_ms=latency.p50,
        p95_ms=latency.p95,
        p99_ms=latency.p99,
        queries_per_request=_mean(r.queries for r in requests),
    )


def _rate(count: int, duration: float) -> float:
    return round(count / duration, 3) if duration > 0 else 0.0


def _mean(values: Iterable[int | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(fmean(present), 3) if present else None
