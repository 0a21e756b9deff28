"""The records of the history store: a commit, the key of one measured series, one point.

These are the only types the store hands out and the trends code reads: a point is one
series' figures at one commit, immutable, copied out of the store's rows. Figures a results
file does not carry (latency of a plugin test, buffers of a load run) are ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Commit", "Point", "SeriesKey"]


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit a result was measured at: its full sha, subject line, commit time and branch."""

    sha: str
    subject: str
    time: datetime
    branch: str


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """What a series measures.

    ``kind`` is ``"audit"`` (an operation × variant of ``dalperf run``/``audit``), ``"load"``
    (a load-test endpoint) or ``"plugin"`` (a pytest test); ``name`` is
    ``"operation/variant"``, the endpoint, or the test's node id; ``series`` separates
    results that cannot be compared (another scale or seed) when ``--series NAME`` is given.
    """

    kind: str
    name: str
    series: str = "default"


@dataclass(frozen=True, slots=True)
class Point:
    """One series' figures at one commit, as the results file recorded them.

    ``p95_low_ms``/``p95_high_ms`` bound the p95 where the samples allow an interval
    (:mod:`dalperf.history.interval`); ``plan_shapes`` holds one string per explained
    statement, its shape's lines joined by newlines, in the file's order; ``samples_ms`` the
    per-iteration wall times.
    """

    commit: Commit
    key: SeriesKey
    queries: int | None
    round_trips: int | None
    network_round_trips: int | None
    buffers: int | None
    rows_fetched: int | None
    p50_ms: float | None
    p95_ms: float | None
    p95_low_ms: float | None
    p95_high_ms: float | None
    plan_shapes: tuple[str, ...] = ()
    samples_ms: tuple[float, ...] = ()
