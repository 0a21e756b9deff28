"""The hooks that turn an engine's traffic into records for the active captures.

One set of hooks (a hub) is attached to an engine while at least one capture on it is
active, and removed when the last one ends; nested and concurrent captures share it.
Which capture a record belongs to is decided by :data:`ACTIVE`, a context variable holding
the captures active in the current context: asyncio tasks and ``asyncio.to_thread``
inherit it, SQLAlchemy's async greenlets share their task's, and plain threads get it only
when the caller passes its context along (:func:`dalperf.capture.session.bind_context`).  Two
operations in different tasks or threads therefore never see each other's records.

Sources, each giving a measured interval (``time.monotonic_ns``):

- The dialect's ``do_execute``, ``do_executemany`` and ``do_execute_no_params``, wrapped on
  the dialect instance while attached: the statements.  The wrapper runs the driver call
  itself, so it times exactly that call and records its error, if any, before SQLAlchemy
  handles it.  SQLAlchemy's dialect events of the same names would do too, but a dialect
  with any event listener makes SQLAlchemy dispatch events around every statement, and
  engine-level events (``before/after_cursor_execute``) run its whole execute-event
  machinery; both cost a measurable part of the 5% overhead budget, so dalperf adds no
  listener to the dialect (nor to the engine).  Transaction control arriving this way
  (SQLAlchemy's SAVEPOINT / RELEASE / ROLLBACK TO) is hidden traffic, not a query.  What
  the driver sends on its own inside the same call (a BEGIN, a prepare, type
  introspection: :mod:`dalperf.capture.wire`, one module per driver) gets the statement's
  interval; the depth computation chains them with the statement.
- The pool's ``connect`` event (first and last listener) with the dialect's ``connect``
  (wrapped): a new connection, from just before the driver connects to just after it
  returns, and on an engine's very first connection SQLAlchemy's dialect initialisation, up
  to the end of the pool's ``connect`` listeners (its statements are not the operation's).
- The dialect's ``do_commit``, ``do_rollback`` and ``do_ping``, wrapped on the dialect
  instance while attached: COMMIT/ROLLBACK whenever the driver really sends one (see
  :mod:`dalperf.capture.wire`), including the pool's reset on return (told apart by the pool's
  ``reset`` event just before it, until its ``checkin``), and the pool's pre-ping.  These
  calls have no events around them, so wrapping is the only way to measure them; the
  wrappers are removed with the listeners.  With psycopg2, ``set_isolation_level`` too
  (the SET it may send).

Hooks go on the engine's dialect and pool, which an ``engine.execution_options(...)`` copy
shares; captures normalise such copies to the engine they came from.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from time import monotonic_ns
from typing import Any, Protocol

import greenlet
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, PoolResetState

from dalperf.capture import wire
from dalperf.capture.callsite import call_site
from dalperf.capture.fingerprint import shape
from dalperf.capture.records import HiddenKind, HiddenRoundTrip, StatementRow
from dalperf.capture.wire import NO_EXTRA

_WRAPPED = ("do_commit", "do_rollback", "do_ping")
_WRAPPED_EXECUTION = ("do_execute", "do_executemany", "do_execute_no_params", "connect")


class Sink(Protocol):
    """Where the hooks put records (a :class:`dalperf.capture.session.Capture`).

    Plain containers rather than methods: every statement passes through here, and a
    method call per statement and capture is a measurable part of the overhead budget.
    """

    engine: Engine
    statement_rows: list[StatementRow]
    hidden_records: list[HiddenRoundTrip]
    executions: dict[str, int]  # fingerprint -> executions so far, for call-site sampling


ACTIVE: ContextVar[tuple[Sink, ...]] = ContextVar("dalperf_active_captures", default=())

Listener = tuple[Any, str, Callable[..., Any]]
_PIPELINED = (HiddenKind.BEGIN, HiddenKind.PREPARE)
_DriverCall = Callable[[Any, str, Any, Any], Any]  # (cursor, statement, parameters, context)

_hubs: dict[Engine, _Hub] = {}
_hubs_lock = threading.Lock()


def attach(engine: Engine) -> None:
    """Make sure the hooks are on ``engine``; every call needs a matching :func:`detach`."""
    with _hubs_lock:
        hub = _hubs.get(engine)
        if hub is None:
            hub = _hubs[engine] = _Hub(engine)
            hub.attach()
        hub.users += 1


def detach(engine: Engine) -> None:
    """Undo one :func:`attach`; the last one removes the hooks."""
    with _hubs_lock:
        hub = _hubs[engine]
        hub.users -= 1
        if hub.users == 0:
            del _hubs[engine]
            hub.detach()


def listeners(engine: Engine) -> tuple[Listener, ...]:
    """The ``(target, event name, function)`` triples dalperf has attached to ``engine`` now."""
    with _hubs_lock:
        hub = _hubs.get(engine)
        return hub.listeners if hub is not None else ()


class _Hub:
    """The hooks of one engine and the state they carry between paired events."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.users = 0
        dialect = self._dialect = engine.dialect
        model = self._model = wire.model_for(dialect)
        self._before = model.before
        self._after = model.after
        self._pipelined = model.pipelined_executemany
        self._per_row = model.executemany_per_row
        self._execute: _DriverCall = dialect.do_execute
        self._executemany: _DriverCall = dialect.do_executemany
        no_params = dialect.do_execute_no_params
        self._execute_no_params: _DriverCall = (
            lambda cursor, statement, parameters, context: no_params(cursor, statement, context))
        self._connect = dialect.connect
        # greenlet -> start of the driver's connect: the pool's connect event follows in the
        # same thread (its main greenlet) or the same asyncio task (SQLAlchemy's greenlet)
        self._connecting: dict[Any, int] = {}
        self._initializing: dict[int, int] = {}  # id(driver connection) -> start of initialisation
        self._resetting: set[int] = set()  # id(driver connection) the pool is about to reset
        self.listeners: tuple[Listener, ...] = (
            (engine.pool, "connect", self._connected),
            (engine.pool, "connect", self._initialized),
            (engine.pool, "reset", self._reset),
            (engine.pool, "checkin", self._checkin),
        )

    def attach(self) -> None:
        self._model.attach()
        for target, name, fn in self.listeners:
            # the first "connect" listener must run before SQLAlchemy's own (dialect set-up)
            event.listen(target, name, fn, insert=fn == self._connected)
        dialect = self._dialect
        dialect.do_execute = self._do_execute  # type: ignore[method-assign]
        dialect.do_executemany = self._do_executemany  # type: ignore[method-assign]
        dialect.do_execute_no_params = self._do_execute_no_params  # type: ignore[method-assign]
        dialect.connect = self._do_connect  # type: ignore[method-assign]
        originals = {name: getattr(dialect, name) for name in _WRAPPED}
        dialect.do_commit = self._wrap(originals["do_commit"], HiddenKind.COMMIT)  # type: ignore[method-assign]
        dialect.do_rollback = self._wrap(originals["do_rollback"], HiddenKind.ROLLBACK)  # type: ignore[method-assign]
        dialect.do_ping = self._wrap(originals["do_ping"], HiddenKind.PING)  # type: ignore[method-assign]
        if self._model.isolation_trips is not None:
            dialect.set_isolation_level = self._wrap_isolation(  # type: ignore[method-assign]
                dialect.set_isolation_level)

    def detach(self) -> None:
        for name in (*_WRAPPED_EXECUTION, *_WRAPPED, "set_isolation_level"):
            vars(self._dialect).pop(name, None)
        for target, name, fn in self.listeners:
            event.remove(target, name, fn)
        self._model.detach()

    def _sinks(self) -> tuple[Sink, ...]:
        active = ACTIVE.get()
        if not active:
            return active
        if len(active) == 1:
            return active if active[0].engine is self.engine else ()
        return tuple(sink for sink in active if sink.engine is self.engine)

    # statements (the hot path: every statement of a benchmark goes through here)

    def _do_execute(self, cursor: Any, statement: str, parameters: Any,
                    context: Any = None) -> None:
        sinks = ACTIVE.get()  # _sinks() inlined: the one hook every statement goes through
        if len(sinks) == 1:
            sinks = sinks if sinks[0].engine is self.engine else ()
        elif sinks:
            sinks = self._sinks()
        if sinks:
            self._measure(sinks, self._execute, cursor, statement, parameters, context, False)
        else:
            self._execute(cursor, statement, parameters, context)

    def _do_executemany(self, cursor: Any, statement: str, parameters: Any,
                        context: Any = None) -> None:
        sinks = self._sinks()
        if sinks:
            self._measure(sinks, self._executemany, cursor, statement, parameters, context, True)
        else:
            self._executemany(cursor, statement, parameters, context)

    def _do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        sinks = self._sinks()
        if sinks:
            self._measure(sinks, self._execute_no_params, cursor, statement, None, context,
                          False)
        else:
            self._execute_no_params(cursor, statement, None, context)

    def _measure(self, sinks: tuple[Sink, ...], call: _DriverCall, cursor: Any, sql: str,
                 parameters: Any, context: Any, executemany: bool) -> None:
        # one function on purpose: every call and argument passed here costs on every statement
        driver, begins, mark = self._before(cursor, sql)
        if self._initializing and id(driver) in self._initializing:
            call(cursor, sql, parameters, context)  # the dialect initialisation's own queries
            return
        start = monotonic_ns()
        error = None
        try:
            call(cursor, sql, parameters, context)
        except BaseException as exc:  # recorded, then handled by SQLAlchemy as usual
            error = _describe(exc)
            raise
        finally:
            end = monotonic_ns()
            rows, extra = self._after(cursor, sql, driver, mark, error is None)
            connection = id(driver)
            if begins or extra is not NO_EXTRA:
                self._hidden(sinks, start, end, connection, executemany, begins, extra)
            if executemany and self._per_row and error is None and len(parameters) > 1:
                _deliver_hidden(sinks, HiddenRoundTrip(
                    kind=HiddenKind.EXECUTEMANY, start_ns=start, end_ns=end,
                    connection=connection, round_trips=len(parameters) - 1))
            form = shape(sql)
            if form.control is not None:
                _deliver_hidden(sinks, HiddenRoundTrip(
                    kind=form.control, start_ns=start, end_ns=end, connection=connection,
                    round_trips=1, sql=sql))
            else:
                fingerprint = form.fingerprint
                sample = False
                for sink in sinks:
                    executions = sink.executions
                    seen = executions[fingerprint] = executions.get(fingerprint, 0) + 1
                    # the 2nd, 8th, 32nd ... execution of a fingerprint: every repeated
                    # fingerprint gets a call site, at a cost that grows with the log of the count
                    sample = sample or (seen & (seen - 1) == 0 and seen.bit_length() % 2 == 0)
                row: StatementRow = (sql, parameters, start, end, connection, rows, executemany,
                                     error, fingerprint, call_site() if sample else None)
                for sink in sinks:
                    sink.statement_rows.append(row)

    def _hidden(self, sinks: tuple[Sink, ...], start: int, end: int, connection: int,
                executemany: bool, begins: bool, extra: wire.Extra) -> None:
        """The BEGIN, prepares, driver-internal statements and DEALLOCATE of one driver call."""
        prepares, internal, deallocates = extra
        # BEGIN and prepares ride in the batch's pipeline in a pipelined executemany
        pipelined = executemany and self._pipelined
        for kind, trips in ((HiddenKind.BEGIN, int(begins)), (HiddenKind.PREPARE, prepares),
                            (HiddenKind.INTERNAL, internal),
                            (HiddenKind.DEALLOCATE, deallocates)):
            if trips:
                _deliver_hidden(sinks, HiddenRoundTrip(
                    kind=kind, start_ns=start, end_ns=end, connection=connection,
                    round_trips=0 if pipelined and kind in _PIPELINED else trips))

    # the dialect's transaction and ping calls

    def _wrap(self, original: Callable[[Any], Any], kind: HiddenKind) -> Callable[[Any], Any]:
        def measured(dbapi_connection: Any) -> Any:
            sinks = self._sinks()
            if not sinks:
                return original(dbapi_connection)
            driver = (dbapi_connection.driver_connection
                      if isinstance(dbapi_connection, PoolProxiedConnection)
                      else self._dialect.get_driver_connection(dbapi_connection))
            if id(driver) in self._initializing:
                return original(dbapi_connection)  # part of the dialect initialisation
            resetting = id(driver) in self._resetting
            self._resetting.discard(id(driver))
            is_ping = kind is HiddenKind.PING
            model = self._model
            if not is_ping and not model.in_transaction(driver):
                return original(dbapi_connection)  # drivers send nothing on an idle session
            dbapi = (dbapi_connection.dbapi_connection
                     if isinstance(dbapi_connection, PoolProxiedConnection) else dbapi_connection)
            mark = model.control_mark(dbapi, driver)
            start = monotonic_ns()
            try:
                return original(dbapi_connection)
            finally:
                end = monotonic_ns()
                trips, deallocates = model.control_trips(is_ping, dbapi, driver, mark)
                _deliver_hidden(sinks, HiddenRoundTrip(
                    kind=HiddenKind.RESET if resetting else kind, start_ns=start, end_ns=end,
                    connection=id(driver), round_trips=trips))
                if deallocates:
                    _deliver_hidden(sinks, HiddenRoundTrip(
                        kind=HiddenKind.DEALLOCATE, start_ns=start, end_ns=end,
                        connection=id(driver), round_trips=deallocates))
        return measured

    def _wrap_isolation(self, original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        mark_of, trips_of = self._model.isolation_mark, self._model.isolation_trips
        assert mark_of is not None and trips_of is not None

        def measured(dbapi_connection: Any, level: Any) -> Any:
            sinks = self._sinks()
            if not sinks:
                return original(dbapi_connection, level)
            driver = self._dialect.get_driver_connection(dbapi_connection)
            mark = mark_of(driver)
            start = monotonic_ns()
            try:
                return original(dbapi_connection, level)
            finally:
                trips = trips_of(driver, mark)
                if trips:
                    _deliver_hidden(sinks, HiddenRoundTrip(
                        kind=HiddenKind.ISOLATION, start_ns=start, end_ns=monotonic_ns(),
                        connection=id(driver), round_trips=trips))
        return measured

    def _reset(self, dbapi_connection: Any, record: ConnectionPoolEntry,
               state: PoolResetState) -> None:
        if state.asyncio_safe and not state.transaction_was_reset and self._sinks():
            self._resetting.add(id(record.driver_connection))

    def _checkin(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # the pool's reset is over (or was not configured): forget the mark
        if dbapi_connection is not None:
            self._resetting.discard(id(record.driver_connection))

    # new connections

    def _do_connect(self, *cargs: Any, **cparams: Any) -> Any:
        if self._sinks():
            self._connecting[greenlet.getcurrent()] = monotonic_ns()
        return self._connect(*cargs, **cparams)

    def _connected(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        end = monotonic_ns()
        start = self._connecting.pop(greenlet.getcurrent(), None)
        sinks = self._sinks()
        if start is None or not sinks:
            return
        driver = record.driver_connection
        _deliver_hidden(sinks, HiddenRoundTrip(
            kind=HiddenKind.CONNECT, start_ns=start, end_ns=end, connection=id(driver),
            round_trips=self._model.connect_round_trips(driver)))
        # SQLAlchemy runs the first connection's listeners under a mutex, so only the
        # connection that is about to initialise the dialect sees it uninitialised here
        if self._dialect.server_version_info is None:
            self._initializing[id(driver)] = end

    def _initialized(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        driver = record.driver_connection
        start = self._initializing.pop(id(driver), None)
        sinks = self._sinks()
        if start is None or not sinks:
            return
        _deliver_hidden(sinks, HiddenRoundTrip(
            kind=HiddenKind.INITIALIZE, start_ns=start, end_ns=monotonic_ns(),
            connection=id(driver),
            round_trips=self._model.initialize_round_trips(self._dialect, driver)))


def _describe(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


def _deliver_hidden(sinks: tuple[Sink, ...], hidden: HiddenRoundTrip) -> None:
    for sink in sinks:
        sink.hidden_records.append(hidden)
