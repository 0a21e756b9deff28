"""The hooks that turn an engine's traffic into records for the active captures.

One set of hooks (a hub) is attached to an engine while at least one capture on it is
active, and removed when the last one ends; nested and concurrent captures share it.
Which capture a record belongs to is decided by :data:`ACTIVE`, a context variable holding
the captures active in the current context: asyncio tasks and ``asyncio.to_thread``
inherit it, SQLAlchemy's async greenlets share their task's, and plain threads get it only
when the caller passes its context along (:func:`dalperf.capture.session.bind_context`).  Two
operations in different tasks or threads therefore never see each other's records.

Sources, each giving a measured interval (``time.monotonic_ns``):

- The dialect events ``do_execute``, ``do_executemany`` and ``do_execute_no_params``: the
  statements.  SQLAlchemy offers them for a listener that runs the driver call itself, so
  the hook times exactly that call (one listener call per statement) and records its
  error, if any, before SQLAlchemy handles it.  Engine-level events
  (``before/after_cursor_execute``) see the same executions, but any listener on the
  Engine makes SQLAlchemy run its execute-event machinery for every statement, which alone
  costs more than the 5% overhead budget.  Transaction control arriving this way
  (SQLAlchemy's SAVEPOINT / RELEASE / ROLLBACK TO) is hidden traffic, not a query.  The
  BEGIN psycopg sends first when the session is idle travels inside the same driver call,
  as do psycopg's automatic PREPARE and DEALLOCATE ALL (:mod:`dalperf.capture.wire`), so they get
  the statement's interval; the depth computation chains them with the statement.
- The pool's ``connect`` event (first and last listener) with the dialect's ``do_connect``:
  a new connection, from just before the driver connects to just after it returns, and on
  an engine's very first connection SQLAlchemy's dialect initialisation, up to the end of
  the pool's ``connect`` listeners (its statements are not the operation's).
- The dialect's ``do_commit``, ``do_rollback`` and ``do_ping``, wrapped on the dialect
  instance while attached: COMMIT/ROLLBACK whenever the driver really sends one (see
  :mod:`dalperf.capture.wire`), including the pool's reset on return (told apart by the pool's
  ``reset`` event just before it, until its ``checkin``), and the pool's pre-ping.  These
  calls have no events around them, so wrapping is the only way to measure them; the
  wrappers are removed with the listeners.

Hooks go on the engine's dialect and pool, which an ``engine.execution_options(...)`` copy
shares; captures normalise such copies to the engine they came from.

Process-wide mode (:func:`install_everywhere`, used by the pytest plugin and by
``Capture(None)``): the same hooks go on the ``Dialect`` and ``Pool`` classes instead, so
every engine of the process is seen, created before or after, sync or async, and the
dialect of each statement is wrapped on first sight.  Process-wide sinks
(:func:`add_process_sink`) receive every statement from every thread; per-engine
captures keep working, served by the class-level hooks (a per-engine hub would shadow
them).  ORM executions are tagged by :mod:`dalperf.capture.orm`; the tag reaches the hooks
through the statement's execution options and is stored in the record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from time import monotonic_ns
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import ConnectionPoolEntry, Pool, PoolProxiedConnection, PoolResetState

from dalperf.capture import orm, wire
from dalperf.capture.callsite import call_site
from dalperf.capture.fingerprint import shape
from dalperf.capture.records import HiddenKind, HiddenRoundTrip, StatementRow
from dalperf.errors import describe

# SQLAlchemy 2.x's first-connect initialisation (PGDialect.initialize) with psycopg: four
# queries (server version, current_schema(), standard_conforming_strings, transaction
# isolation level), BEGIN before them and ROLLBACK after (unless autocommit), and with
# native hstore a type lookup wrapped in SAVEPOINT/RELEASE (BEGIN/COMMIT in autocommit).
_INITIALIZE_QUERIES = 4
_INITIALIZE_TRANSACTION = 2
_INITIALIZE_HSTORE_LOOKUP = 3
_WRAPPED = ("do_commit", "do_rollback", "do_ping")


class Sink(Protocol):
    """Where the hooks put records (a :class:`dalperf.capture.session.Capture`).

    Plain containers rather than methods: every statement passes through here, and a
    method call per statement and capture is a measurable part of the overhead budget.
    """

    dialect: Dialect | None  # the engine's dialect; None: every engine (process-wide)
    statement_rows: list[StatementRow]
    hidden_records: list[HiddenRoundTrip]
    executions: dict[str, int]  # fingerprint -> executions so far, for call-site sampling
    unsupported: set[str]  # "dialect+driver" of statements seen but not measured


ACTIVE: ContextVar[tuple[Sink, ...]] = ContextVar("dalperf_active_captures", default=())

Listener = tuple[Any, str, Callable[..., Any]]
_EXECUTE, _EXECUTEMANY, _NO_PARAMS = range(3)
_DriverCall = Callable[[Any, str, Any, Any], Any]  # (cursor, statement, parameters, context)

_hubs: dict[Engine, _Hub] = {}
_hubs_lock = threading.Lock()
_everywhere: _Hub | None = None  # the class-level hub, while process-wide mode is on
_everywhere_users = 0
_process_sinks: tuple[Sink, ...] = ()  # sinks that see every thread's statements


def attach(engine: Engine) -> None:
    """Make sure the hooks are on ``engine``; every call needs a matching :func:`detach`."""
    with _hubs_lock:
        hub = _hubs.get(engine)
        if hub is None:
            hub = _hubs[engine] = _Hub(engine)
            if _everywhere is None:
                hub.attach()
        hub.users += 1


def detach(engine: Engine) -> None:
    """Undo one :func:`attach`; the last one removes the hooks."""
    with _hubs_lock:
        hub = _hubs[engine]
        hub.users -= 1
        if hub.users == 0:
            del _hubs[engine]
            if hub.attached:
                hub.detach()


def install_everywhere() -> None:
    """Turn process-wide mode on (hooks on the classes); every call needs an
    :func:`uninstall_everywhere`."""
    global _everywhere, _everywhere_users
    with _hubs_lock:
        if _everywhere is None:
            for hub in _hubs.values():  # the class-level hooks serve their captures now
                if hub.attached:
                    hub.detach()
            _everywhere = _Hub(None)
            _everywhere.attach()
        _everywhere_users += 1


def uninstall_everywhere() -> None:
    """Undo one :func:`install_everywhere`; the last one takes the class-level hooks off."""
    global _everywhere, _everywhere_users
    with _hubs_lock:
        _everywhere_users -= 1
        if _everywhere_users == 0 and _everywhere is not None:
            _everywhere.detach()
            _everywhere = None
            for hub in _hubs.values():
                hub.attach()


def add_process_sink(sink: Sink) -> None:
    """``sink`` receives every statement of every thread until :func:`remove_process_sink`."""
    global _process_sinks
    with _hubs_lock:
        _process_sinks = (*_process_sinks, sink)


def remove_process_sink(sink: Sink) -> None:
    global _process_sinks
    with _hubs_lock:
        _process_sinks = tuple(s for s in _process_sinks if s is not sink)


def recording() -> bool:
    """Whether any capture would record a statement sent from here now."""
    return bool(_process_sinks or ACTIVE.get())


def listeners(engine: Engine) -> tuple[Listener, ...]:
    """The ``(target, event name, function)`` triples dalperf has attached to ``engine`` now."""
    with _hubs_lock:
        hub = _hubs.get(engine)
        return hub.listeners if hub is not None else ()


class _Hub:
    """The hooks of one engine (or, with ``engine=None``, of every engine) and the state
    they carry between paired events."""

    def __init__(self, engine: Engine | None) -> None:
        self.users = 0
        self.attached = False
        self._dialect = engine.dialect if engine is not None else None
        dialects: Any = self._dialect if engine is not None else Dialect
        pools: Any = engine.pool if engine is not None else Pool
        # id(record) -> (start of the driver's connect, dialect)
        self._connecting: dict[int, tuple[int, Dialect]] = {}
        # id(driver connection) -> (start of initialisation, dialect)
        self._initializing: dict[int, tuple[int, Dialect]] = {}
        self._resetting: set[int] = set()  # id(driver connection) the pool is about to reset
        self.listeners: tuple[Listener, ...] = (
            (dialects, "do_execute", self._do_execute),
            (dialects, "do_executemany", self._do_executemany),
            (dialects, "do_execute_no_params", self._do_execute_no_params),
            (dialects, "do_connect", self._do_connect),
            (pools, "connect", self._connected),
            # SQLAlchemy's own first-connect listener (the dialect initialisation) sits on the
            # pool instance, after every class-level one: at class level the end of the
            # initialisation is seen at the checkout that follows it
            (pools, "connect" if engine is not None else "checkout", self._initialized),
            (pools, "reset", self._reset),
            (pools, "checkin", self._checkin),
        )
        self._wrapped: list[Dialect] = []

    def attach(self) -> None:
        for target, name, fn in self.listeners:
            # the first "connect" listener must run before SQLAlchemy's own (dialect set-up)
            event.listen(target, name, fn, insert=fn == self._connected)
        orm.install()
        if self._dialect is not None:
            self._wrap_dialect(self._dialect)
        self.attached = True

    def detach(self) -> None:
        for dialect in self._wrapped:
            for name in _WRAPPED:
                vars(dialect).pop(name, None)
        self._wrapped.clear()
        for target, name, fn in self.listeners:
            event.remove(target, name, fn)
        orm.uninstall()
        self.attached = False

    def _wrap_dialect(self, dialect: Dialect) -> None:
        """Measure ``dialect``'s COMMIT, ROLLBACK and ping (instance attributes, removed
        on detach)."""
        if "do_commit" in vars(dialect):
            return
        originals = {name: getattr(dialect, name) for name in _WRAPPED}
        dialect.do_commit = self._wrap(dialect, originals["do_commit"], HiddenKind.COMMIT)  # type: ignore[method-assign]
        dialect.do_rollback = self._wrap(dialect, originals["do_rollback"], HiddenKind.ROLLBACK)  # type: ignore[method-assign]
        dialect.do_ping = self._wrap(dialect, originals["do_ping"], HiddenKind.PING)  # type: ignore[method-assign]
        self._wrapped.append(dialect)

    def _sinks(self, dialect: Dialect) -> tuple[Sink, ...]:
        active = ACTIVE.get()
        process = _process_sinks
        if not active:
            if len(process) == 1 and process[0].dialect is None:
                return process
            if not process:
                return active
        return tuple(sink for sink in (*active, *process)
                     if sink.dialect is None or sink.dialect is dialect)

    # statements (the hot path: every statement of a benchmark goes through here)

    def _do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        dialect = context.dialect
        sinks = self._sinks(dialect)
        if sinks:
            self._measure(sinks, dialect, _EXECUTE, cursor, statement, parameters, context)
        return bool(sinks)  # True: the statement has been executed here

    def _do_executemany(self, cursor: Any, statement: str, parameters: Any,
                        context: Any) -> bool:
        dialect = context.dialect
        sinks = self._sinks(dialect)
        if sinks:
            self._measure(sinks, dialect, _EXECUTEMANY, cursor, statement, parameters, context)
        return bool(sinks)

    def _do_execute_no_params(self, cursor: Any, statement: str, context: Any) -> bool:
        dialect = context.dialect
        sinks = self._sinks(dialect)
        if sinks:
            self._measure(sinks, dialect, _NO_PARAMS, cursor, statement, None, context)
        return bool(sinks)

    def _measure(self, sinks: tuple[Sink, ...], dialect: Any, how: int, cursor: Any, sql: str,
                 parameters: Any, context: Any) -> None:
        if how == _EXECUTE:
            call: _DriverCall = dialect.do_execute
        elif how == _EXECUTEMANY:
            call = dialect.do_executemany
        else:
            def call(cursor: Any, sql: str, parameters: Any, context: Any) -> Any:
                return dialect.do_execute_no_params(cursor, sql, context)
        if dialect.driver not in wire.SUPPORTED_DRIVERS or dialect.name != "postgresql":
            for sink in sinks:
                sink.unsupported.add(f"{dialect.name}+{dialect.driver}")
            call(cursor, sql, parameters, context)
            return
        if "do_commit" not in vars(dialect):
            self._wrap_dialect(dialect)  # an engine that connected before the hooks went on
        raw = cursor._cursor if dialect.is_async else cursor
        driver = raw.connection
        if self._initializing and id(driver) in self._initializing:
            call(cursor, sql, parameters, context)  # the dialect initialisation's own queries
            return
        tag = context.execution_options.get(orm.TAG)
        executemany = how == _EXECUTEMANY
        begins = wire.sends_begin(driver)
        prepared = wire.prepared_statements(driver)
        start = monotonic_ns()
        try:
            call(cursor, sql, parameters, context)
        except BaseException as exc:  # recorded, then handled by SQLAlchemy as usual
            self._record(sinks, sql, parameters, start, monotonic_ns(), driver, 0, executemany,
                         describe(exc), begins, prepared, tag)
            raise
        end = monotonic_ns()
        self._record(sinks, sql, parameters, start, end, driver, wire.rows_fetched(raw),
                     executemany, None, begins, prepared, tag)

    def _record(self, sinks: tuple[Sink, ...], sql: str, parameters: Any, start: int, end: int,
                driver: Any, rows: int, executemany: bool, error: str | None, begins: bool,
                prepared_before: int, tag: Any) -> None:
        connection = id(driver)
        prepared_after = wire.prepared_statements(driver)
        if begins or prepared_after > prepared_before:
            # both ride in the batch's pipeline in an executemany, with no wait of their own
            trips = 0 if executemany and wire.PIPELINED_EXECUTEMANY else 1
            for kind, happened in ((HiddenKind.BEGIN, begins),
                                   (HiddenKind.PREPARE, prepared_after > prepared_before)):
                if happened:
                    _deliver_hidden(sinks, HiddenRoundTrip(
                        kind=kind, start_ns=start, end_ns=end, connection=connection,
                        round_trips=trips))
        if prepared_before and not prepared_after:
            _deliver_hidden(sinks, HiddenRoundTrip(
                kind=HiddenKind.DEALLOCATE, start_ns=start, end_ns=end, connection=connection,
                round_trips=1))
        form = shape(sql)
        if form.control is not None:
            _deliver_hidden(sinks, HiddenRoundTrip(
                kind=form.control, start_ns=start, end_ns=end, connection=connection,
                round_trips=1, sql=sql))
            return
        fingerprint = form.fingerprint
        sample = False
        for sink in sinks:
            seen = sink.executions[fingerprint] = sink.executions.get(fingerprint, 0) + 1
            # the 2nd, 8th, 32nd ... execution of a fingerprint: every repeated fingerprint
            # gets a call site, at a cost that grows with the log of the count
            sample = sample or (seen & (seen - 1) == 0 and seen.bit_length() % 2 == 0)
            # an ORM load's first statement: the findings name where it was triggered
            sample = sample or (tag is not None and seen == 1)
        row: StatementRow = (sql, parameters, start, end, connection, rows, executemany, error,
                             fingerprint, call_site() if sample else None, tag)
        for sink in sinks:
            sink.statement_rows.append(row)

    # the dialect's transaction and ping calls

    def _wrap(self, dialect: Dialect, original: Callable[[Any], Any],
              kind: HiddenKind) -> Callable[[Any], Any]:
        def measured(dbapi_connection: Any) -> Any:
            sinks = self._sinks(dialect)
            if not sinks:
                return original(dbapi_connection)
            driver = (dbapi_connection.driver_connection
                      if isinstance(dbapi_connection, PoolProxiedConnection)
                      else dialect.get_driver_connection(dbapi_connection))
            if id(driver) in self._initializing:
                return original(dbapi_connection)  # part of the dialect initialisation
            resetting = id(driver) in self._resetting
            self._resetting.discard(id(driver))
            if kind is not HiddenKind.PING and not wire.in_transaction(driver):
                return original(dbapi_connection)  # psycopg sends nothing on an idle session
            prepared = wire.prepared_statements(driver)
            start = monotonic_ns()
            try:
                return original(dbapi_connection)
            finally:
                end = monotonic_ns()
                _deliver_hidden(sinks, HiddenRoundTrip(
                    kind=HiddenKind.RESET if resetting else kind, start_ns=start, end_ns=end,
                    connection=id(driver), round_trips=1))
                if prepared and not wire.prepared_statements(driver):
                    _deliver_hidden(sinks, HiddenRoundTrip(
                        kind=HiddenKind.DEALLOCATE, start_ns=start, end_ns=end,
                        connection=id(driver), round_trips=1))
        return measured

    def _reset(self, dbapi_connection: Any, record: ConnectionPoolEntry,
               state: PoolResetState) -> None:
        if state.asyncio_safe and not state.transaction_was_reset and recording():
            self._resetting.add(id(record.driver_connection))

    def _checkin(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # the pool's reset is over (or was not configured): forget the mark
        if dbapi_connection is not None:
            self._resetting.discard(id(record.driver_connection))

    # new connections

    def _do_connect(self, dialect: Dialect, record: ConnectionPoolEntry | None,
                    cargs: list[Any], cparams: dict[str, Any]) -> None:
        if record is not None and dialect.driver in wire.SUPPORTED_DRIVERS and self._sinks(dialect):
            self._wrap_dialect(dialect)
            self._connecting[id(record)] = (monotonic_ns(), dialect)

    def _connected(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        end = monotonic_ns()
        connecting = self._connecting.pop(id(record), None)
        if connecting is None:
            return
        start, dialect = connecting
        sinks = self._sinks(dialect)
        if not sinks:
            return
        driver = record.driver_connection
        _deliver_hidden(sinks, HiddenRoundTrip(
            kind=HiddenKind.CONNECT, start_ns=start, end_ns=end, connection=id(driver),
            round_trips=wire.connect_round_trips(driver)))
        # SQLAlchemy runs the first connection's listeners under a mutex, so only the
        # connection that is about to initialise the dialect sees it uninitialised here
        if dialect.server_version_info is None:
            self._initializing[id(driver)] = (end, dialect)

    def _initialized(self, dbapi_connection: Any, record: ConnectionPoolEntry,
                     *proxy: Any) -> None:
        driver = record.driver_connection
        initializing = self._initializing.pop(id(driver), None)
        if initializing is None:
            return
        start, dialect = initializing
        sinks = self._sinks(dialect)
        if not sinks:
            return
        trips = _INITIALIZE_QUERIES
        if not driver.autocommit:
            trips += _INITIALIZE_TRANSACTION
        if getattr(dialect, "use_native_hstore", False):
            trips += _INITIALIZE_HSTORE_LOOKUP
        _deliver_hidden(sinks, HiddenRoundTrip(
            kind=HiddenKind.INITIALIZE, start_ns=start, end_ns=monotonic_ns(),
            connection=id(driver), round_trips=trips))


def _deliver_hidden(sinks: tuple[Sink, ...], hidden: HiddenRoundTrip) -> None:
    for sink in sinks:
        sink.hidden_records.append(hidden)
