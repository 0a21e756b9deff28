"""The report's figures, shaped with pandas from a :class:`~dalperf.results.model.Results` alone.

Every operation is read as a comparison: its *before* variant is the first one registered
(the reference the others are checked equivalent against), *ours* is the last one, and
any variants in between (the case study's ``summary``) are shown beside them.  The
summary table and the overall impact use the *primary* configuration of a run: indexes on
(when the run measured them on) at its lowest simulated RTT; the index-impact and
RTT-sweep tables use the rest, and exist only when the run measured more than one state.

Improvement figures: "% fewer queries" and "% faster" (median wall time) are
``(before - ours) / before``, the way the case study's summary states its gains, and the
speed-up is ``median(before) / median(ours)`` with the bootstrap interval of
:func:`dalperf.results.stats.median_ratio`.

The overall speed-up is the geometric mean of the per-operation speed-ups.  Its interval
is a bootstrap of the geometric mean itself (:func:`dalperf.results.stats.geometric_mean_ratio`):
each resample is the geometric mean of every operation's resample of the same index, drawn
as for the operation's own interval, so with one operation the overall interval is that
operation's, and skewed intervals stay skewed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dalperf.results.model import Results
from dalperf.results.stats import Ratio, geometric_mean_ratio, median_ratio


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One variant's figures in the summary table, and what was claimed for it."""

    queries: int
    round_trips: int
    p50: float
    p95: float
    claim: Mapping[str, Any] | None
    buffers: int | None = None  # None: not explained


@dataclass(frozen=True, kw_only=True)
class SummaryRow:
    """One operation in the summary table: ``cells`` by variant, ``None`` where it has none."""

    operation: str
    size: str
    before: str
    ours: str
    cells: Mapping[str, Cell | None]
    queries_fewer_pct: float
    faster_pct: float
    speedup: Ratio
    claimed_faster_pct: float | None
    samples: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())  # before's, ours' wall ms


@dataclass(frozen=True, kw_only=True)
class OverallImpact:
    """Totals over the summary rows, and the combined speed-up."""

    operations: int
    queries_before: int
    queries_after: int
    fewer_pct: float
    speedup: Ratio
    excluded: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class IndexImpactRow:
    operation: str
    variant: str
    p50_with: float
    p50_without: float
    speedup: Ratio


@dataclass(frozen=True, kw_only=True)
class RttSweep:
    """Median wall time and network round trips of each variant at each simulated RTT."""

    operation: str
    rtts: tuple[float, ...]
    p50: Mapping[str, tuple[float, ...]]
    network_round_trips: Mapping[str, tuple[int, ...]]


def frame(results: Results) -> pd.DataFrame:
    """One row per measurement, wall-time summary flattened, samples kept as a tuple."""
    rows = [
        {
            "operation": m.operation,
            "variant": m.variant,
            "indexes": m.indexes,
            "rtt_ms": m.rtt_ms,
            "queries": m.queries,
            "round_trips": m.round_trips,
            "network_round_trips": m.network_round_trips,
            "rows_fetched": m.rows_fetched,
            "rows_returned": m.rows_returned,
            "p50": m.wall_ms.p50,
            "p95": m.wall_ms.p95,
            "samples": m.wall_ms.samples,
            "failed": m.error is not None,
            "buffers": m.buffers,
        }
        for m in results.operations
    ]
    columns = [
        "operation",
        "variant",
        "indexes",
        "rtt_ms",
        "queries",
        "round_trips",
        "network_round_trips",
        "rows_fetched",
        "rows_returned",
        "p50",
        "p95",
        "samples",
        "failed",
        "buffers",
    ]
    return pd.DataFrame(rows, columns=columns)


def primary(data: pd.DataFrame) -> pd.DataFrame:
    """The rows of the primary configuration: indexes on if measured, then the lowest RTT."""
    if data["indexes"].any():
        data = data[data["indexes"]]
    return data[data["rtt_ms"] == data["rtt_ms"].min()]


def variant_orders(results: Results) -> dict[str, list[str]]:
    """Each operation's variants in registration order (the catalog's, else as measured)."""
    orders: dict[str, list[str]] = {}
    for m in results.operations:
        orders.setdefault(m.operation, [])
        if m.variant not in orders[m.operation]:
            orders[m.operation].append(m.variant)
    for name, order in orders.items():
        registered = list(results.catalog.get(name, {}).get("variants", {}))
        orders[name] = [v for v in registered if v in order] + [
            v for v in order if v not in registered
        ]
    return orders


def variant_columns(orders: Mapping[str, Sequence[str]]) -> list[str]:
    """Every variant name once, ordered by where it stands in its operations (0 first, 1 last)."""
    position: dict[str, list[float]] = {}
    for order in orders.values():
        for index, variant in enumerate(order):
            position.setdefault(variant, []).append(index / max(len(order) - 1, 1))
    return sorted(position, key=lambda v: sum(position[v]) / len(position[v]))


def summary_rows(results: Results) -> list[SummaryRow]:
    """The summary table: per operation, each variant's figures and ours against before."""
    data = primary(frame(results))
    if data.empty:
        return []
    orders = variant_orders(results)
    columns = variant_columns(orders)
    indexed = data.set_index(["operation", "variant"])
    rows = []
    for operation in dict.fromkeys(data["operation"]):
        order = orders[operation]
        before, ours = order[0], order[-1]
        claims = results.catalog.get(operation, {}).get("claims", {})
        cells = {
            v: _cell(indexed.loc[(operation, v)], claims.get(v)) if v in order else None
            for v in columns
        }
        first, last = cells[before], cells[ours]
        assert first is not None and last is not None
        rows.append(
            SummaryRow(
                operation=operation,
                size=size_label(results.catalog.get(operation, {})),
                before=before,
                ours=ours,
                cells=cells,
                queries_fewer_pct=_reduction(first.queries, last.queries),
                faster_pct=_reduction(first.p50, last.p50),
                speedup=median_ratio(
                    indexed.loc[(operation, before), "samples"],
                    indexed.loc[(operation, ours), "samples"],
                ),
                claimed_faster_pct=_claimed_reduction(claims, order),
                samples=(
                    tuple(indexed.loc[(operation, before), "samples"]),
                    tuple(indexed.loc[(operation, ours), "samples"]),
                ),
            )
        )
    return rows


def _queries(cell: Cell | None) -> int:
    """A summary row's ``before``/``ours`` cell always exists (the row is built from them)."""
    assert cell is not None
    return cell.queries


def overall_impact(rows: Sequence[SummaryRow]) -> OverallImpact:
    """Total queries before and after, and the geometric-mean speed-up (see module docstring)
    over the operations whose speed-up is defined (the others are ``excluded``)."""
    usable = [r for r in rows if r.speedup.value > 0 and r.speedup.low > 0]
    before = sum(_queries(r.cells[r.before]) for r in rows)
    after = sum(_queries(r.cells[r.ours]) for r in rows)
    return OverallImpact(
        operations=len(rows),
        queries_before=before,
        queries_after=after,
        fewer_pct=_reduction(before, after),
        speedup=geometric_mean_ratio([r.samples for r in usable]),
        excluded=tuple(r.operation for r in rows if all(r is not u for u in usable)),
    )


def index_impact(results: Results) -> list[IndexImpactRow]:
    """Median wall time with and without indexes, where a run measured both, at its lowest RTT."""
    data = frame(results)
    data = data[data["rtt_ms"] == data["rtt_ms"].min()]
    both = data.set_index(["operation", "variant", "indexes"])["samples"].unstack("indexes")
    if True not in both.columns or False not in both.columns:
        return []
    both = both.dropna()
    return [
        IndexImpactRow(
            operation=operation,
            variant=variant,
            p50_with=_median(both.loc[(operation, variant), True]),
            p50_without=_median(both.loc[(operation, variant), False]),
            speedup=median_ratio(
                both.loc[(operation, variant), False], both.loc[(operation, variant), True]
            ),
        )
        for operation, variant in both.index
    ]


def rtt_sweeps(results: Results) -> list[RttSweep]:
    """Per operation, figures at each simulated RTT, where a run measured more than one."""
    data = frame(results)
    if data["indexes"].any():
        data = data[data["indexes"]]
    sweeps = []
    orders = variant_orders(results)
    for operation, group in data.groupby("operation", sort=False):
        rtts = tuple(sorted(group["rtt_ms"].unique()))
        if len(rtts) < 2:
            continue
        by_variant = group.set_index(["variant", "rtt_ms"])
        variants = [v for v in orders[str(operation)] if v in set(group["variant"])]
        sweeps.append(
            RttSweep(
                operation=str(operation),
                rtts=tuple(float(r) for r in rtts),
                p50={
                    v: tuple(float(by_variant.loc[(v, r), "p50"]) for r in rtts) for v in variants
                },
                network_round_trips={
                    v: tuple(int(by_variant.loc[(v, r), "network_round_trips"]) for r in rtts)
                    for v in variants
                },
            )
        )
    return sweeps


def _cell(row: pd.Series, claim: Mapping[str, Any] | None) -> Cell:
    return Cell(
        queries=int(row["queries"]),
        round_trips=int(row["round_trips"]),
        p50=float(row["p50"]),
        p95=float(row["p95"]),
        claim=claim,
        buffers=None if pd.isna(row["buffers"]) else int(row["buffers"]),
    )


def size_label(entry: Mapping[str, Any]) -> str:
    size = entry.get("size")
    return f"{size['name']}: {size['default']}" if size else ""


def _reduction(before: float, after: float) -> float:
    """``(before - after) / before`` in percent; NaN when there is nothing to reduce."""
    if not before or math.isnan(before) or math.isnan(after):
        return float("nan")
    return 100.0 * (before - after) / before


def _claimed_reduction(
    claims: Mapping[str, Mapping[str, Any]], order: Sequence[str]
) -> float | None:
    """The improvement the claims imply: the reference's claimed time against the last claimed."""
    timed = [v for v in order if isinstance(claims.get(v, {}).get("wall_ms"), int | float)]
    if len(timed) < 2 or timed[0] != order[0]:
        return None
    return _reduction(float(claims[timed[0]]["wall_ms"]), float(claims[timed[-1]]["wall_ms"]))


def _median(samples: Sequence[float]) -> float:
    return float(pd.Series(samples, dtype=float).median()) if len(samples) else float("nan")
