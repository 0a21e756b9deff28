"""The drivers section: the same operations measured through different drivers, side by side.

``dalperf report RESULTS --beside OTHER.json`` (or the files a ``dalperf run`` with
``--driver`` repeated writes) puts, for every operation x variant x RTT of RESULTS, each
file's network round trips and median wall time in one row, each file labelled by the
driver its environment names.  Measurements one file lacks show as empty cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dalperf.results.model import Measurement, Results

DEFAULT_DRIVER_LABEL = "psycopg"  # results written before dalperf recorded the driver


@dataclass(frozen=True, kw_only=True)
class DriverCell:
    network_round_trips: int
    p50_ms: float


@dataclass(frozen=True, kw_only=True)
class DriverRow:
    operation: str
    variant: str
    rtt_ms: float
    cells: tuple[DriverCell | None, ...]  # one per column


@dataclass(frozen=True, kw_only=True)
class DriverComparison:
    columns: tuple[str, ...]  # "asyncpg 0.32.0 (async), psycopg 3.3.9 (sync)"
    rows: tuple[DriverRow, ...]


def driver_label(results: Results) -> str:
    """What a results file was measured through, as the report's column heading."""
    driver = results.environment.get("driver")
    if not isinstance(driver, dict):
        return DEFAULT_DRIVER_LABEL
    return f"{driver.get('name', '?')}: async {driver.get('async', '?')}, sync {driver.get('sync', '?')}"


def side_by_side(results: Results, beside: Sequence[Results]) -> DriverComparison | None:
    """The comparison of ``results`` with the files in ``beside``; None when there are none."""
    if not beside:
        return None
    files = (results, *beside)
    by_key = [{m.key: m for m in f.operations} for f in files]
    rows = tuple(
        DriverRow(
            operation=m.operation,
            variant=m.variant,
            rtt_ms=m.rtt_ms,
            cells=tuple(_cell(measured.get(m.key)) for measured in by_key),
        )
        for m in results.operations
        if m.indexes
    )
    return DriverComparison(columns=tuple(driver_label(f) for f in files), rows=rows)


def _cell(m: Measurement | None) -> DriverCell | None:
    if m is None or m.error is not None:
        return None
    return DriverCell(network_round_trips=m.typical_network_round_trips, p50_ms=m.wall_ms.p50)
