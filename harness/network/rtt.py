"""What an RTT sweep shows, derived from a results file alone (for the report and the tests).

Two views of a run made with ``dalperf run --rtt-ms ...``:

- :func:`model_fits`: how well the latency model holds.  With the database ``rtt`` away,
  an operation whose network depth (``network_round_trips``) is ``d`` should take
  ``d × rtt`` longer than at the sweep's lowest RTT: its median wall time at each RTT is
  set against ``t0 + d × (rtt - rtt0)``, with ``t0`` its median at the lowest RTT
  ``rtt0`` and ``d`` the depth measured at that RTT.  A fit within
  :data:`TOLERANCE_FRACTION` (or :data:`TOLERANCE_MS`, for fast operations) means the
  depth counts every round trip the operation waits for.
- :func:`reproduce_summary`: the case study's "Performance Impact Summary" table redone
  with measurements.  The claimed figures come from the results' ``catalog`` (each
  operation's ``claims``: ``{"variant": {"wall_ms": ..., "queries": ...}}``); the RTT
  shown is the measured one at which our figures come closest to the claimed ones (the
  smallest mean squared log ratio of measured to claimed median wall time), since the
  claims were made against a remote database whose distance nobody wrote down.

Both use the rows with indexes on when the run measured them, like the report's tables.
Improvements are ``(before - after) / before`` in percent, the way the summary states its
gains, with *before* the operation's reference variant: the first one in the results (the
runner writes variants in the order they were registered, the reference first).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dalperf.results.model import Measurement, Results

TOLERANCE_FRACTION = 0.10
TOLERANCE_MS = 2.0


@dataclass(frozen=True, kw_only=True)
class ModelFit:
    """One operation x variant over the sweep: measured against modelled median wall time."""

    operation: str
    variant: str
    rtts: tuple[float, ...]
    network_round_trips: tuple[int, ...]
    measured_ms: tuple[float, ...]
    predicted_ms: tuple[float, ...]

    @property
    def errors_ms(self) -> tuple[float, ...]:
        """Measured minus predicted, per RTT."""
        return tuple(m - p for m, p in zip(self.measured_ms, self.predicted_ms, strict=True))

    def within(self, *, fraction: float = TOLERANCE_FRACTION, ms: float = TOLERANCE_MS) -> bool:
        """Whether every RTT's median is within ``fraction`` of the prediction, or ``ms``."""
        return all(
            abs(error) <= max(fraction * predicted, ms)
            for error, predicted in zip(self.errors_ms, self.predicted_ms, strict=True)
        )


@dataclass(frozen=True, kw_only=True)
class ClaimRow:
    """One operation of the summary's table: claimed and measured, variant by variant.

    ``claimed_ms`` and ``claimed_queries`` hold the variants the claims name (the case
    study's ``naive`` and ``summary``); ``measured_ms`` (median wall time) and ``queries``
    hold every measured variant, ``improvement_pct`` every one but ``before``.
    """

    operation: str
    before: str
    variants: tuple[str, ...]
    claimed_ms: Mapping[str, float]
    claimed_queries: Mapping[str, Any]
    claimed_improvement_pct: float | None
    measured_ms: Mapping[str, float]
    queries: Mapping[str, int]
    network_round_trips: Mapping[str, int]
    improvement_pct: Mapping[str, float]


@dataclass(frozen=True, kw_only=True)
class Reproduction:
    """The summary's table at the measured RTT closest to its figures.

    ``ratio`` is the geometric mean of measured / claimed wall time over every claimed
    figure at that RTT (1.0: a perfect match; 0.5: we measured half of what was claimed).
    """

    rtt_ms: float
    ratio: float
    rows: tuple[ClaimRow, ...]


def model_fits(results: Results) -> list[ModelFit]:
    """Every operation x variant measured at two RTTs or more, against the latency model."""
    by_key = _by_operation_variant(results)
    orders = _variant_orders(results)
    fits = []
    for operation, order in orders.items():
        for variant in order:
            points = sorted(by_key.get((operation, variant), {}).items())
            if len(points) < 2:
                continue
            rtt0, first = points[0]
            t0 = first.wall_ms.p50
            fits.append(
                ModelFit(
                    operation=operation,
                    variant=variant,
                    rtts=tuple(rtt for rtt, _ in points),
                    network_round_trips=tuple(m.typical_network_round_trips for _, m in points),
                    measured_ms=tuple(m.wall_ms.p50 for _, m in points),
                    predicted_ms=tuple(
                        t0 + m.typical_network_round_trips * (rtt - rtt0) for rtt, m in points
                    ),
                )
            )
    return fits


def reproduce_summary(results: Results, *, rtt_ms: float | None = None) -> Reproduction | None:
    """The summary's table redone at the best-matching RTT (or at ``rtt_ms``, if given);
    ``None`` without claims to match, or when nothing was measured at ``rtt_ms``."""
    by_key = _by_operation_variant(results)
    orders = _variant_orders(results)
    claims = {
        operation: {
            variant: figures
            for variant, figures in results.catalog.get(operation, {}).get("claims", {}).items()
            if variant in order and _is_number(figures.get("wall_ms"))
        }
        for operation, order in orders.items()
    }
    rtts = sorted(
        {rtt for points in by_key.values() for rtt in points if rtt_ms is None or rtt == rtt_ms}
    )
    best: tuple[float, float, float] | None = None  # (mean squared log ratio, rtt, mean log)
    for rtt in rtts:
        logs = [
            math.log(by_key[(op, v)][rtt].wall_ms.p50 / float(figures["wall_ms"]))
            for op, claimed in claims.items()
            for v, figures in claimed.items()
            if rtt in by_key.get((op, v), {}) and by_key[(op, v)][rtt].wall_ms.p50 > 0
        ]
        if logs:
            score = sum(x * x for x in logs) / len(logs)
            if best is None or score < best[0]:
                best = (score, rtt, sum(logs) / len(logs))
    if best is None:
        return None
    _, rtt, mean_log = best
    rows = []
    for operation, claimed in claims.items():
        measured = {
            v: by_key[(operation, v)][rtt]
            for v in orders[operation]
            if rtt in by_key.get((operation, v), {})
        }
        before = orders[operation][0]
        if not claimed or before not in measured:
            continue
        wall = {v: m.wall_ms.p50 for v, m in measured.items()}
        timed = [v for v in orders[operation] if v in claimed]
        rows.append(
            ClaimRow(
                operation=operation,
                before=before,
                variants=tuple(measured),
                claimed_ms={v: float(claimed[v]["wall_ms"]) for v in timed},
                claimed_queries={v: claimed[v].get("queries") for v in timed},
                claimed_improvement_pct=(
                    _improvement(
                        float(claimed[timed[0]]["wall_ms"]), float(claimed[timed[-1]]["wall_ms"])
                    )
                    if len(timed) > 1 and timed[0] == before
                    else None
                ),
                measured_ms=wall,
                queries={v: m.queries for v, m in measured.items()},
                network_round_trips={v: m.network_round_trips for v, m in measured.items()},
                improvement_pct={
                    v: _improvement(wall[before], ms) for v, ms in wall.items() if v != before
                },
            )
        )
    return Reproduction(rtt_ms=rtt, ratio=math.exp(mean_log), rows=tuple(rows))


def _by_operation_variant(results: Results) -> dict[tuple[str, str], dict[float, Measurement]]:
    """Measurements by (operation, variant), then RTT; indexes on when the run measured them."""
    indexed = any(m.indexes for m in results.operations)
    table: dict[tuple[str, str], dict[float, Measurement]] = {}
    for m in results.operations:
        if m.indexes == indexed and m.error is None and m.wall_ms.samples:
            table.setdefault((m.operation, m.variant), {})[m.rtt_ms] = m
    return table


def _variant_orders(results: Results) -> dict[str, list[str]]:
    """Each operation's variants in the order the results list them."""
    orders: dict[str, dict[str, None]] = {}
    for m in results.operations:
        orders.setdefault(m.operation, {})[m.variant] = None
    return {operation: list(variants) for operation, variants in orders.items()}


def _improvement(before: float, after: float) -> float:
    return 100.0 * (before - after) / before if before else float("nan")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
