"""Record everything a DAL operation sends through an Engine or AsyncEngine.

    with Capture(engine) as cap:          # or: async work inside, same ``with``
        operation()
    cap.queries, cap.round_trips, cap.network_round_trips, cap.summary()

The listeners go on when the block starts and come off when it ends, however it ends
(:mod:`dalperf.capture.instrument`).  A statement belongs to every capture active in the context
that executed it: fan-out with ``asyncio.gather`` or ``asyncio.to_thread`` is followed
automatically; for a ``ThreadPoolExecutor`` or a bare thread, wrap the callable with
:func:`bind_context`.  Captures in unrelated tasks or threads never see each other's
statements.  Nested captures on the same engine both record the inner block's statements.

Statements the caller does not want counted, such as a benchmark runner's own isolation
(an outer transaction it rolls back, a savepoint it rolls back to), go inside
:func:`suspended`.  Note that psycopg sends BEGIN lazily, with the first statement of a
transaction: a runner that opens its transaction under :func:`suspended` should also send
its first statement (its SAVEPOINT) there, so that the BEGIN is not counted either.

Depth (:attr:`Capture.round_trips`, :attr:`Capture.network_round_trips`) comes from the
measured intervals, so on a local server statements that a slow network would make
overlap may come out sequential when they are very short; with an injected latency, or
statements that take time, the figures are exact.

``Capture(None)`` records every engine of the process, from every thread (the hooks go on
SQLAlchemy's classes, :func:`dalperf.capture.instrument.install_everywhere`): what the pytest
plugin uses for a test body; a thread that an earlier ``Capture(None)`` started and left
running is not counted (:mod:`dalperf.capture.sinks`).  Statements through a driver dalperf
does not model are counted in :attr:`Capture.unsupported` instead (their names), never
measured wrongly.

A capture needs PostgreSQL through psycopg 3 (sync or async), psycopg2 or asyncpg, whose
wire behaviour the hidden-round-trip counts follow (:mod:`dalperf.capture.wire`, one module
per driver); ``Capture(engine)`` of any other engine is a :class:`~dalperf.errors.UsageError`.
Not counted: the FETCH round trips of server-side
cursors (``stream_results``), whose rows are not in ``rows_fetched`` either; work sent
with the driver directly (``engine.raw_connection()``), except the pool's reset of it.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import Token
from time import monotonic_ns
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.engine.base import OptionEngine

from dalperf.capture import instrument, sinks, units, wire
from dalperf.capture.depth import Span, critical_path
from dalperf.capture.findings import (
    Finding,
    FingerprintTotal,
    NPlusOne,
    Thresholds,
    detect,
    fingerprint_totals,
    n_plus_one,
)
from dalperf.capture.recorder import hidden_of
from dalperf.capture.records import (
    NS_PER_MS,
    ORM_FIELD,
    SITE_FIELD,
    STATEMENT_FIELDS,
    HiddenRoundTrip,
    Statement,
    StatementRow,
    jsonable,
    redact,
)
from dalperf.capture.wire import NO_EXTRA
from dalperf.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

MS_DIGITS = 3

P = ParamSpec("P")
R = TypeVar("R")


class Capture:
    """The statements and hidden round trips of one operation, and the figures derived from them.

    Single use: enter it once.  The figures can be read at any time; they are final after
    the block ends.
    """

    def __init__(self, engine: Engine | AsyncEngine | None) -> None:
        self.engine = _sync_engine(engine) if engine is not None else None
        self.dialect = self.engine.dialect if self.engine is not None else None
        self.started_ns: int | None = None
        # filled by the hooks (dalperf.capture.sinks.Sink)
        self.statement_rows: list[StatementRow] = []
        self.hidden_records: list[HiddenRoundTrip] = []
        self.executions: dict[str, int] = {}
        self.site_units: dict[str, int | None] = {}
        self.unit_events: list[tuple[int, int, int, str]] = []
        self.requests: list[tuple[int, int, int]] = []
        self.reads: set[str] = set()
        self.unsupported: set[str] = set()
        self.uncounted_threads: tuple[str, ...] = ()
        self._statements: list[Statement] = []  # statement_rows[:len(_statements)] as records
        self._row_hidden: list[HiddenRoundTrip] = []  # the BEGINs and prepares of those rows
        self._build_lock = threading.Lock()
        self._token: Token[tuple[sinks.Sink, ...]] | None = None

    def __enter__(self) -> Self:
        if self.started_ns is not None:
            raise UsageError("a Capture records once; create a new one for each block")
        self.started_ns = monotonic_ns()
        if self.engine is None:
            instrument.install_everywhere()
            sinks.add_process(self)
            units.watch_requests()
            return self
        instrument.attach(self.engine)
        units.watch_requests()
        self._token = sinks.ACTIVE.set((*sinks.ACTIVE.get(), self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.engine is None:
            sinks.remove_process(self)
            instrument.uninstall_everywhere()
            return
        try:
            if self._token is not None:
                sinks.ACTIVE.reset(self._token)
        finally:
            instrument.detach(self.engine)

    # results

    @property
    def statements(self) -> tuple[Statement, ...]:
        """The operation's own statements, in the order they started."""
        return tuple(sorted(self._built(), key=lambda s: s.start_ns))

    @property
    def hidden(self) -> tuple[HiddenRoundTrip, ...]:
        """Transaction control, pings, resets and connection set-up, in the order they started."""
        return tuple(sorted(self._hidden(), key=lambda h: h.start_ns))

    @property
    def queries(self) -> int:
        return len(self.statement_rows)

    @property
    def round_trips(self) -> int:
        """Statements on the critical path: the longest chain that did not overlap in time."""
        return critical_path(Span(s.start_ns, s.end_ns) for s in self._built())

    @property
    def network_round_trips(self) -> int:
        """:attr:`round_trips` counting the hidden round trips that sit on the critical path too.

        Records with the same interval on the same connection were sent by one driver call
        one after the other (the implicit BEGIN and its statement), so they form one span
        weighing their sum.
        """
        weights: Counter[tuple[int, int, int]] = Counter()
        for s in self._built():
            weights[(s.connection, s.start_ns, s.end_ns)] += 1
        for h in self._hidden():
            weights[(h.connection, h.start_ns, h.end_ns)] += h.round_trips
        return critical_path(
            Span(start, end, weight) for (_, start, end), weight in weights.items()
        )

    @property
    def rows_fetched(self) -> int:
        return sum(s.rows for s in self._built())

    @property
    def db_ms(self) -> float:
        """Sum of the statements' durations."""
        return sum(s.end_ns - s.start_ns for s in self._built()) / NS_PER_MS

    def fingerprints(self) -> list[FingerprintTotal]:
        return fingerprint_totals(self._built())

    def n_plus_one(self) -> list[NPlusOne]:
        return n_plus_one(self._built())

    def findings(self, thresholds: Thresholds | None = None) -> list[Finding]:
        """The ORM-aware findings (lazy loads, repeated statements, column reloads, write
        loops), worst first; see :mod:`dalperf.capture.findings`."""
        thresholds = thresholds or Thresholds()
        rows = self.statement_rows
        least = thresholds.least_untagged
        if not any(row[ORM_FIELD] is not None for row in rows) and not (
            least and len(rows) >= least
        ):
            return []  # no ORM load, too few other statements: nothing to build or group
        built = list(self._built())
        return detect(
            built,
            thresholds,
            units.resolve(built, self.unit_events, self.requests),
            reads=self.reads,
        )

    def summary(
        self, *, statements: bool = False, redact_parameters: bool = True
    ) -> dict[str, Any]:
        """The capture as JSON-serialisable data with stable keys (the results JSON fields).

        With ``statements=True`` each statement is listed too, its parameters replaced by
        their type names unless ``redact_parameters=False``.
        """
        hidden = self._hidden()
        hidden_counts = Counter(h.kind.value for h in hidden)
        hidden_trips: Counter[str] = Counter()
        for h in hidden:
            hidden_trips[h.kind.value] += h.round_trips
        result: dict[str, Any] = {
            "queries": self.queries,
            "round_trips": self.round_trips,
            "network_round_trips": self.network_round_trips,
            "rows_fetched": self.rows_fetched,
            "db_ms": round(self.db_ms, MS_DIGITS),
            "errors": sum(1 for s in self._built() if s.error is not None),
            "fingerprints": [
                {
                    "fingerprint": t.fingerprint,
                    "sql": t.sql,
                    "count": t.count,
                    "total_ms": round(t.total_ms, MS_DIGITS),
                }
                for t in self.fingerprints()
            ],
            "n_plus_one": [
                {
                    "fingerprint": g.fingerprint,
                    "sql": g.sql,
                    "count": g.count,
                    "call_site": g.call_site,
                }
                for g in self.n_plus_one()
            ],
            "findings": [f.to_dict() for f in self.findings()],
            "hidden_round_trips": [
                {"kind": kind, "count": hidden_counts[kind], "round_trips": hidden_trips[kind]}
                for kind in sorted(hidden_counts)
            ],
        }
        if statements:
            result["statements"] = self._statement_rows(redact_parameters)
        return result

    def _built(self) -> list[Statement]:
        """All statements as records, building those that arrived since the last call."""
        with self._build_lock:
            row: Any
            for row in self.statement_rows[len(self._statements) :]:
                site = row[SITE_FIELD]
                fields = [
                    *row[:SITE_FIELD],
                    site[0] if site else None,
                    *row[ORM_FIELD : STATEMENT_FIELDS + 1],
                    site[1] if site else None,
                ]
                statement = Statement(*fields)
                self._statements.append(statement)
                begins, extra = row[STATEMENT_FIELDS:]
                if begins or extra != NO_EXTRA:
                    self._row_hidden.extend(
                        hidden_of(
                            statement.start_ns,
                            statement.end_ns,
                            statement.connection,
                            begins,
                            extra,
                        )
                    )
            return self._statements

    def _hidden(self) -> list[HiddenRoundTrip]:
        """Every hidden round trip: those the hooks recorded and those of the statement rows."""
        self._built()
        return self.hidden_records + self._row_hidden

    def _statement_rows(self, redact_parameters: bool) -> list[dict[str, Any]]:
        origin = self.started_ns or 0
        connections: dict[int, int] = {}
        return [
            {
                "sql": s.sql,
                "parameters": redact(s.parameters) if redact_parameters else jsonable(s.parameters),
                "start_ms": round((s.start_ns - origin) / NS_PER_MS, MS_DIGITS),
                "duration_ms": round(s.duration_ms, MS_DIGITS),
                "connection": connections.setdefault(s.connection, len(connections) + 1),
                "rows": s.rows,
                "executemany": s.executemany,
                "error": s.error,
                "fingerprint": s.fingerprint,
                "call_site": s.call_site,
            }
            for s in self.statements
        ]


def captured(
    engine: Engine | AsyncEngine, *, on_capture: Callable[[Capture], object]
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: run every call of the function (sync or ``async def``) inside a fresh
    :class:`Capture`, and hand the capture to ``on_capture`` when the call ends, also when
    it raised."""
    _sync_engine(engine)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                cap = Capture(engine)
                try:
                    with cap:
                        return await fn(*args, **kwargs)
                finally:
                    on_capture(cap)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            cap = Capture(engine)
            try:
                with cap:
                    return fn(*args, **kwargs)
            finally:
                on_capture(cap)

        return run

    return decorate


@contextmanager
def suspended() -> Iterator[None]:
    """Inside this block, in the current context, no capture records anything."""
    token = sinks.ACTIVE.set(())
    try:
        yield
    finally:
        sinks.ACTIVE.reset(token)


def bind_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to the caller's context, for ``executor.submit(bind_context(fn), ...)``.

    Threads do not inherit context variables; every call runs in its own copy of the
    context taken here, so the statements it sends count for the captures active here.
    """
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(fn, *args, **kwargs)

    return run


def _sync_engine(engine: object) -> Engine:
    """The Engine whose events see ``engine``'s traffic; TypeError/UsageError if unsupported."""
    asyncio_ext = sys.modules.get("sqlalchemy.ext.asyncio")  # not loaded: no AsyncEngine exists
    if asyncio_ext is not None and isinstance(engine, asyncio_ext.AsyncEngine):
        engine = engine.sync_engine
    while isinstance(engine, OptionEngine):
        # engine.execution_options(...) shares the pool, the dialect and the listeners of
        # the engine it came from; hooks go on that one
        engine = engine._proxied
    if not isinstance(engine, Engine):
        raise TypeError(
            f"Capture needs a SQLAlchemy Engine or AsyncEngine, "
            f"got {type(engine).__module__}.{type(engine).__qualname__}"
        )
    wire.model_for(engine.dialect)  # UsageError naming the supported drivers
    return engine
