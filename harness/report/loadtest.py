"""The report's load-test section: :class:`~dalperf.results.load.LoadResults` shaped for it.

Variants side by side (throughput, exact latency percentiles, failures, queries per
request), the comparison of the first variant ("before") with the last ("ours") as
ratios, and a per-endpoint table whose rows are the request names with the variant's
path prefix (``/naive``, ``/optimized``) taken off, so that the same endpoint lines up
across variants.  Everything comes from the load results file alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dalperf.results.load import LoadResults, VariantLoad


@dataclass(frozen=True, kw_only=True)
class LoadRow:
    """One variant's line of the throughput and latency table."""

    variant: str
    users: int
    requests: int
    failures: int
    failure_pct: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    queries_per_request: float | None
    round_trips_per_request: float | None


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """``before`` against ``ours``: how many times the throughput, p95 and queries differ."""

    before: str
    ours: str
    rps_ratio: float  # ours / before: > 1 means ours serves more requests per second
    p95_ratio: float  # before / ours: > 1 means ours answers faster
    queries_ratio: float  # before / ours: > 1 means ours sends fewer queries per request


@dataclass(frozen=True, kw_only=True)
class EndpointRow:
    """One endpoint across the variants: ``cells[variant]`` is (p95 ms, queries/request, rps),
    or ``None`` where that variant did not call it."""

    endpoint: str
    cells: dict[str, tuple[float, float | None, float] | None]


@dataclass(frozen=True, kw_only=True)
class LoadView:
    """Everything the load-test section shows."""

    settings: tuple[tuple[str, str], ...]
    rows: tuple[LoadRow, ...]
    comparison: Comparison | None
    variants: tuple[str, ...]
    endpoints: tuple[EndpointRow, ...]
    errors: tuple[tuple[str, str, str, int], ...]  # variant, request name, error, count


def load_view(results: LoadResults) -> LoadView:
    """Shape ``results`` for ``_load.html.j2``."""
    variants = tuple(v.variant for v in results.variants)
    return LoadView(
        settings=_settings(results),
        rows=tuple(_row(v) for v in results.variants),
        comparison=_comparison(results),
        variants=variants,
        endpoints=_endpoints(results),
        errors=tuple(
            (v.variant, e["name"], e["error"], int(e["count"]))
            for v in results.variants
            for e in v.errors
        ),
    )


def _row(v: VariantLoad) -> LoadRow:
    return LoadRow(
        variant=v.variant,
        users=v.users,
        requests=v.requests,
        failures=v.failures,
        failure_pct=100.0 * v.failure_ratio,
        rps=v.rps,
        p50_ms=v.latency_ms.p50,
        p95_ms=v.latency_ms.p95,
        p99_ms=v.latency_ms.p99,
        queries_per_request=v.queries_per_request,
        round_trips_per_request=v.round_trips_per_request,
    )


def _comparison(results: LoadResults) -> Comparison | None:
    if len(results.variants) < 2:
        return None
    before, ours = results.variants[0], results.variants[-1]
    return Comparison(
        before=before.variant,
        ours=ours.variant,
        rps_ratio=_ratio(ours.rps, before.rps),
        p95_ratio=_ratio(before.latency_ms.p95, ours.latency_ms.p95),
        queries_ratio=_ratio(before.queries_per_request, ours.queries_per_request),
    )


def _ratio(numerator: float | None, denominator: float | None) -> float:
    if numerator is None or denominator is None or not denominator or math.isnan(denominator):
        return float("nan")
    return numerator / denominator


def endpoint_of(name: str, variant: str) -> str:
    """``/naive/projects`` -> ``/projects`` for variant ``naive``; other names unchanged."""
    prefix = f"/{variant}"
    return name[len(prefix) :] if name.startswith(prefix + "/") else name


def _endpoints(results: LoadResults) -> tuple[EndpointRow, ...]:
    table: dict[str, dict[str, tuple[float, float | None, float] | None]] = {}
    for v in results.variants:
        for e in v.endpoints:
            cells = table.setdefault(endpoint_of(e.name, v.variant), {})
            cells[v.variant] = (e.p95_ms, e.queries_per_request, e.rps)
    variants = [v.variant for v in results.variants]
    return tuple(
        EndpointRow(endpoint=name, cells={v: cells.get(v) for v in variants})
        for name, cells in sorted(table.items())
    )


def _settings(results: LoadResults) -> tuple[tuple[str, str], ...]:
    env = results.environment
    workers = env.get("workers", 0)
    entries = [
        ("Users", f"{env.get('users', '?')} in total, started at {env.get('spawn_rate', '?')}/s"),
        (
            "Run",
            f"{env.get('run_time_s', '?')} s asked, requests spanned {results.duration_s:.1f} s"
            if results.duration_s
            else "—",
        ),
        (
            "Locust",
            f"{env.get('locust', '?')}, "
            + (f"master and {workers} worker processes" if workers else "one process"),
        ),
        ("Connection pool", f"{env.get('pool_size', '?')} connections (hard cap)"),
        ("Simulated RTT", f"{env.get('rtt_ms', 0):g} ms"),
        (
            "Requests per locust process",
            ", ".join(f"{count:,}" for count in results.nodes.values()) or "—",
        ),
        (
            "Locust's own totals",
            f"{results.locust['requests']:,} requests, {results.locust['failures']:,} failures"
            if results.locust
            else "—",
        ),
        (
            "PostgreSQL / data scale",
            " / ".join(str(env.get(k, "?")) for k in ("server_version", "scale")),
        ),
        ("Machine", str(env.get("machine", "?"))),
    ]
    return tuple(entries)
