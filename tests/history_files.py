"""Results files for the history tests and benchmark, written as dalperf writes them.

:func:`audit_results` builds a :class:`~dalperf.results.model.Results` of ``dalperf run`` with the
figures asked for, through the record classes themselves, so that every file passes the
results schema; :func:`plugin_json` and :func:`load_json` do the same for the plugin's
``--dalperf-json`` and ``dalperf load``'s file.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dalperf.results.model import Measurement, Results
from dalperf.results.stats import Summary

SHAPE_INDEX = ["Index Scan using renders_pkey on renders"]
SHAPE_SEQ = ["Seq Scan on renders"]


def measurement(
    name: str,
    *,
    queries: int = 1,
    round_trips: int = 1,
    buffers: int = 40,
    rows: int = 20,
    wall: Sequence[float] = (1.0, 1.1, 0.9, 1.0),
    shape: Sequence[str] = SHAPE_INDEX,
    indexes: bool = True,
    rtt_ms: float = 0.0,
) -> Measurement:
    """One operation × variant (``name`` is ``"operation/variant"``) as ``dalperf run``
    records it, with one explained statement of plan shape ``shape``."""
    operation, variant = name.split("/")
    plan = {
        "fingerprint": "f1",
        "sql": "SELECT 1",
        "explainable": True,
        "shape": {"hash": str(abs(hash(tuple(shape))))[:16], "lines": list(shape)},
    }
    summary = Summary(
        p50=sorted(wall)[len(wall) // 2],
        p95=max(wall),
        p99=max(wall),
        min=min(wall),
        max=max(wall),
        mean=sum(wall) / len(wall),
        samples=tuple(wall),
    )
    return Measurement(
        operation=operation,
        variant=variant,
        indexes=indexes,
        rtt_ms=rtt_ms,
        size=None,
        queries=queries,
        round_trips=round_trips,
        network_round_trips=round_trips + 2,
        rows_fetched=rows,
        rows_returned=rows,
        queries_per_call=(queries,) * len(wall),
        round_trips_per_call=(round_trips,) * len(wall),
        db_ms=summary,
        wall_ms=summary,
        fingerprints=(),
        n_plus_one=(),
        hidden_round_trips=(),
        equivalent=None,
        buffers=buffers,
        plans=(plan,),
    )


def audit_results(measurements: Sequence[Measurement], **environment: Any) -> Results:
    env = {
        "server_version": "18.1",
        "scale": 1.0,
        "seed": 0,
        "started_at": "2026-01-02T03:04:05+00:00",
        **environment,
    }
    return Results(environment=env, operations=tuple(measurements))


def write(path: Path, results: Results | Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(results, Results):
        results.save(path)
    else:
        path.write_text(json.dumps(results))
    return path


def noisy(rng: random.Random, centre: float, n: int = 20) -> tuple[float, ...]:
    """``n`` wall times around ``centre`` ms (± 5 %)."""
    return tuple(round(centre * rng.uniform(0.95, 1.05), 4) for _ in range(n))


def plugin_json(tests: Mapping[str, int]) -> dict[str, Any]:
    """The plugin's ``--dalperf-json`` with a test per entry: node id -> queries."""
    return {
        "version": 1,
        "rtt_ms": 0.0,
        "stale_baseline": [],
        "tests": [
            {
                "test": node,
                "queries": queries,
                "findings": [],
                "unsupported": [],
                "round_trips": queries,
                "network_round_trips": queries + 1,
                "rows_fetched": 3,
                "db_ms": 0.5,
                "slowest": [],
                "outcome": "passed",
                "budget": {},
            }
            for node, queries in tests.items()
        ],
    }


def load_json(samples: Sequence[float], *, queries: float = 2.0) -> dict[str, Any]:
    """``dalperf load``'s file with one variant and one endpoint."""
    ordered = sorted(samples)
    latency = {
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[-1],
        "p99": ordered[-1],
        "min": ordered[0],
        "max": ordered[-1],
        "mean": sum(samples) / len(samples),
        "samples": list(samples),
    }
    return {
        "schema_version": 1,
        "kind": "dalperf-load",
        "environment": {"users": 2, "scale": 1.0, "seed": 0},
        "duration_s": 1.0,
        "variants": [
            {
                "variant": "optimized",
                "users": 2,
                "requests": len(samples),
                "failures": 0,
                "rps": float(len(samples)),
                "latency_ms": latency,
                "queries_per_request": queries,
                "round_trips_per_request": queries,
                "endpoints": [
                    {
                        "name": "GET /optimized/user-stats",
                        "requests": len(samples),
                        "failures": 0,
                        "rps": float(len(samples)),
                        "p50_ms": latency["p50"],
                        "p95_ms": latency["p95"],
                        "p99_ms": latency["p99"],
                        "queries_per_request": queries,
                    }
                ],
                "errors": [],
            }
        ],
        "nodes": {"local": len(samples)},
        "locust": {"requests": len(samples), "failures": 0},
    }
