"""Checking figures against budget limits: what broke, by how much, in one line each.

The limits and where they are declared are :mod:`dalperf.project.budgets`.  This module
knows measurements only through :class:`Figures`, so the same checks serve the results JSON
and a live capture (the pytest plugin).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dalperf.project.budgets import BUFFERS_LIMIT, COMPLEXITY_ORDER, LIMITS, SEQ_SCAN_LIMIT

SQL_IN_MESSAGE = 160  # characters of a statement quoted in a one-line message


@dataclass(frozen=True, kw_only=True)
class Figures:
    """What a budget is checked against; ``None`` for a figure that was not measured."""

    queries: int
    round_trips: int
    rows_fetched: int
    network_round_trips: int = 0
    p95_ms: float | None = None
    n_plus_one: tuple[Mapping[str, Any], ...] = ()
    complexity: str | None = None
    buffers: int | None = None  # None: not explained
    # every Seq Scan of the plans ({"relation", "table_rows"}, largest first); None: no plans
    seq_scans: tuple[Mapping[str, Any], ...] | None = None


@dataclass(frozen=True, kw_only=True)
class Breach:
    """One limit exceeded."""

    limit: str
    allowed: Any
    measured: Any
    message: str


_FIGURE_OF = {
    "max_queries": "queries",
    "max_round_trips": "round_trips",
    "max_network_round_trips": "network_round_trips",
    "max_rows_fetched": "rows_fetched",
}
_NOUN = {
    "max_queries": "queries",
    "max_round_trips": "round trips (depth)",
    "max_network_round_trips": "network round trips",
    "max_rows_fetched": "rows fetched",
}


def breaches(limits: Mapping[str, Any], figures: Figures) -> list[Breach]:
    """Every limit in ``limits`` that ``figures`` exceed, in :data:`LIMITS` order."""
    found = []
    for name in LIMITS:
        allowed = limits.get(name)
        if allowed is None or allowed is False:
            continue
        breach = _breach(name, allowed, figures)
        if breach is not None:
            found.append(breach)
    return found


def _breach(name: str, allowed: Any, figures: Figures) -> Breach | None:
    if name in _FIGURE_OF:
        measured = getattr(figures, _FIGURE_OF[name])
        if measured <= allowed:
            return None
        return Breach(
            limit=name,
            allowed=allowed,
            measured=measured,
            message=f"{measured} {_NOUN[name]}, budget {allowed}",
        )
    if name == BUFFERS_LIMIT:
        if figures.buffers is None:
            return Breach(
                limit=name,
                allowed=allowed,
                measured=None,
                message="no buffers measured to check max_buffers against (run with --explain)",
            )
        if figures.buffers <= allowed:
            return None
        return Breach(
            limit=name,
            allowed=allowed,
            measured=figures.buffers,
            message=f"{figures.buffers:,} buffers per call, budget {allowed:,}",
        )
    if name == "p95_ms":
        p95 = figures.p95_ms
        if p95 is None or math.isnan(p95):
            return Breach(
                limit=name,
                allowed=allowed,
                measured=None,
                message="no timing samples to check p95 against",
            )
        if p95 <= allowed:
            return None
        return Breach(
            limit=name,
            allowed=allowed,
            measured=round(p95, 3),
            message=f"p95 {p95:.1f} ms, budget {allowed:g} ms",
        )
    if name == "no_n_plus_one":
        if not figures.n_plus_one:
            return None
        worst = figures.n_plus_one[0]
        where = f" at {worst['call_site']}" if worst.get("call_site") else ""
        return Breach(
            limit=name,
            allowed=True,
            measured=int(worst["count"]),
            message=f"N+1: {worst['count']}x {shorten_sql(worst['sql'])}{where}",
        )
    if name == SEQ_SCAN_LIMIT:
        if figures.seq_scans is None:
            return Breach(
                limit=name,
                allowed=allowed,
                measured=None,
                message="no plans to check for sequential scans (run with --explain)",
            )
        over = [s for s in figures.seq_scans if (s["table_rows"] or 0) > allowed]
        if not over:
            return None
        return Breach(
            limit=name,
            allowed=allowed,
            measured=int(over[0]["table_rows"]),
            message=f"Seq Scan on {over[0]['relation']} "
            f"({over[0]['table_rows']:,.0f} rows), budget: none over "
            f"{allowed:,} rows",
        )
    verdict = figures.complexity
    if verdict is None:
        return Breach(
            limit=name,
            allowed=allowed,
            measured=None,
            message="complexity not measured (needs a size knob, run without --no-complexity)",
        )
    if verdict in COMPLEXITY_ORDER[: COMPLEXITY_ORDER.index(allowed) + 1]:
        return None
    return Breach(
        limit=name,
        allowed=allowed,
        measured=verdict,
        message=f"query count grows {verdict}, budget {allowed}",
    )


def shorten_sql(sql: str, width: int = SQL_IN_MESSAGE) -> str:
    """``sql`` on one line, cut at a word boundary to at most ``width`` characters."""
    return textwrap.shorten(sql, width=width, placeholder=" ...")
