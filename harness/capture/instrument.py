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

Process-wide mode (:func:`install_everywhere`, used by the pytest plugin and by
``Capture(None)``): the hooks go on the ``Dialect`` and ``Pool`` classes instead (the
statements and ``do_connect`` through SQLAlchemy's dialect events, the only way to see an
engine dalperf has never met), so every engine of the process is seen, created before or
after, sync or async.  Each dialect instance is wired on first sight with its own driver's
wire model (:func:`dalperf.capture.wire.model_for`), its COMMIT, ROLLBACK, ping and
isolation calls wrapped as above; a dialect dalperf has no model for (pg8000, MySQL...) is
not measured, its ``dialect+driver`` is reported in each sink's ``unsupported``.  Process-wide sinks
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
from typing import Any, Protocol, cast

import greenlet
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import ConnectionPoolEntry, Pool, PoolProxiedConnection, PoolResetState

from dalperf.capture import orm, units, wire
from dalperf.capture.callsite import call_site
from dalperf.capture.fingerprint import control_kind
from dalperf.capture.records import ORM_OPTION, HiddenKind, HiddenRoundTrip, StatementRow
from dalperf.capture.wire import NO_EXTRA
from dalperf.errors import describe

_WRAPPED = ("do_commit", "do_rollback", "do_ping")
_WRAPPED_EXECUTION = ("do_execute", "do_executemany", "do_execute_no_params", "connect")


class Sink(Protocol):
    """Where the hooks put records (a :class:`dalperf.capture.session.Capture`).

    Plain containers rather than methods: every statement passes through here, and a
    method call per statement and capture is a measurable part of the overhead budget.
    """

    dialect: Dialect | None  # the engine's dialect; None: every engine (process-wide)
    statement_rows: list[StatementRow]
    hidden_records: list[HiddenRoundTrip]
    executions: dict[str, int]  # SQL text -> executions so far, for call-site sampling
    site_units: dict[str, int | None]  # SQL text -> the unit of work of its latest call site
    unit_events: list[tuple[int, int, int, str]]  # (ns, connection, unit, kind): units
    requests: list[tuple[int, int, int]]  # (start ns, end ns, number): units
    reads: set[str]  # relationships loaded eagerly that the code read (capture.reads)
    unsupported: set[str]  # "dialect+driver" of statements seen but not measured


ACTIVE: ContextVar[tuple[Sink, ...]] = ContextVar("dalperf_active_captures", default=())

Listener = tuple[Any, str, Callable[..., Any]]
_PIPELINED = (HiddenKind.BEGIN, HiddenKind.PREPARE)
# A statement gets a call site when its text runs for the first time in a unit of work (a
# Session or a checkout of its connection: dalperf.capture.units.CURRENT), for the 2nd, 8th,
# 32nd ... time (at a cost that grows with the log of the count), and when it is an ORM
# relationship or column load (the findings need the site of each).
_SAMPLED = frozenset((3, 4, *(2 * 4**k for k in range(32))))  # 3rd, 4th: a short loop's sites
_NEVER = object()
_CURRENT_UNIT = units.CURRENT  # bound once: read on every statement
_DriverCall = Callable[[Any, str, Any, Any], Any]  # (cursor, statement, parameters, context)

_hubs: dict[Engine, _Hub] = {}
_hubs_lock = threading.Lock()
_everywhere: _Hub | None = None  # the class-level hub, while process-wide mode is on
_everywhere_users = 0
# sinks that see every thread's statements; only ever non-empty in process-wide mode, when
# no per-engine hub is attached (the per-engine hot path relies on it)
_process_sinks: tuple[Sink, ...] = ()


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
    """``sink`` receives every statement of every thread until :func:`remove_process_sink`
    (process-wide mode must be on)."""
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


def current_sinks() -> tuple[Sink, ...]:
    """Every capture that records what is sent from here now, of any engine."""
    return (*ACTIVE.get(), *_process_sinks)


def listeners(engine: Engine) -> tuple[Listener, ...]:
    """The ``(target, event name, function)`` triples dalperf has attached to ``engine`` now."""
    with _hubs_lock:
        hub = _hubs.get(engine)
        return hub.listeners if hub is not None else ()


class _Wired:
    """One dialect instance as dalperf measures it: its driver's wire model and the
    dialect's own driver calls (taken before any wrapping)."""

    __slots__ = (
        "after",
        "before",
        "connect",
        "dialect",
        "execute",
        "execute_no_params",
        "executemany",
        "model",
        "per_row",
        "pipelined",
    )

    def __init__(self, dialect: Dialect, model: wire.WireModel) -> None:
        self.dialect = dialect
        self.model = model
        self.before = model.before
        self.after = model.after
        self.pipelined = model.pipelined_executemany
        self.per_row = model.executemany_per_row
        self.execute: _DriverCall = dialect.do_execute
        self.executemany: _DriverCall = dialect.do_executemany
        no_params = dialect.do_execute_no_params
        self.execute_no_params: _DriverCall = lambda cursor, statement, parameters, context: (
            no_params(cursor, statement, context)
        )
        self.connect = dialect.connect


def _model_of(dialect: Dialect) -> wire.WireModel | None:
    """The wire model of ``dialect``, None for a driver dalperf does not measure."""
    if dialect.name != "postgresql" or dialect.driver not in wire.SUPPORTED_DRIVERS:
        return None
    return wire.model_for(dialect)


class _Hub:
    """The hooks of one engine (or, with ``engine=None``, of every engine) and the state
    they carry between paired events.

    Per engine, the statements arrive through the dialect instance's own methods, wrapped
    (:meth:`_do_execute`, the lean path); process-wide, through SQLAlchemy's class-level
    dialect events (:meth:`_on_statement`), each dialect wired on first sight (:meth:`_see`).
    """

    def __init__(self, engine: Engine | None) -> None:
        self.users = 0
        self.attached = False
        self._per_engine = engine is not None
        self._wired: dict[Dialect, _Wired | None] = {}  # None: a driver not measured
        self._wired_lock = threading.Lock()
        # greenlet -> (start of the driver's connect, dialect): the pool's connect event
        # follows in the same thread (its main greenlet) or the same asyncio task
        # (SQLAlchemy's greenlet)
        self._connecting: dict[Any, tuple[int, _Wired]] = {}
        # id(driver connection) -> (start of initialisation, dialect)
        self._initializing: dict[int, tuple[int, _Wired]] = {}
        self._resetting: set[int] = set()  # id(driver connection) the pool is about to reset
        if engine is not None:
            dialect = self._dialect = engine.dialect
            own = self._own = _Wired(dialect, wire.model_for(dialect))
            self._execute = own.execute
            self.listeners: tuple[Listener, ...] = (
                (engine.pool, "connect", self._connected),
                (engine.pool, "connect", self._initialized),
                (engine.pool, "reset", self._reset),
                (engine.pool, "checkin", self._checkin),
            )
        else:
            self.listeners = (
                (Dialect, "do_execute", self._on_statement),
                (Dialect, "do_executemany", self._on_executemany),
                (Dialect, "do_execute_no_params", self._on_execute_no_params),
                (Dialect, "do_connect", self._on_connect),
                (Pool, "connect", self._connected),
                # SQLAlchemy's own first-connect listener (the dialect initialisation) sits on
                # the pool instance, after every class-level one: at class level the end of
                # the initialisation is seen at the checkout that follows it
                (Pool, "checkout", self._initialized),
                (Pool, "reset", self._reset),
                (Pool, "checkin", self._checkin),
            )

    def attach(self) -> None:
        for target, name, fn in self.listeners:
            # the first "connect" listener must run before SQLAlchemy's own (dialect set-up)
            event.listen(target, name, fn, insert=fn == self._connected)
        orm.install()
        units.install()
        if self._per_engine:
            own = self._own
            dialect = self._dialect
            dialect.do_execute = self._do_execute  # type: ignore[method-assign]
            dialect.do_executemany = self._do_executemany  # type: ignore[method-assign]
            dialect.do_execute_no_params = self._do_execute_no_params  # type: ignore[method-assign]
            dialect.connect = self._do_connect  # type: ignore[method-assign]
            self._wire(own)
            self._wired[dialect] = own
        self.attached = True

    def detach(self) -> None:
        with self._wired_lock:
            for dialect, wired in self._wired.items():
                if wired is not None:
                    for name in (*_WRAPPED_EXECUTION, *_WRAPPED, "set_isolation_level"):
                        vars(dialect).pop(name, None)
                    wired.model.detach()
            self._wired.clear()
        for target, name, fn in self.listeners:
            event.remove(target, name, fn)
        orm.uninstall()
        units.uninstall()
        self.attached = False

    def _wire(self, wired: _Wired) -> None:
        """Wrap the dialect's COMMIT, ROLLBACK, ping and (when the driver's model counts it)
        isolation calls (instance attributes, removed on detach)."""
        wired.model.attach()
        dialect = wired.dialect
        originals = {name: getattr(dialect, name) for name in _WRAPPED}
        dialect.do_commit = self._wrap(wired, originals["do_commit"], HiddenKind.COMMIT)  # type: ignore[method-assign,assignment]
        dialect.do_rollback = self._wrap(wired, originals["do_rollback"], HiddenKind.ROLLBACK)  # type: ignore[method-assign,assignment]
        dialect.do_ping = self._wrap(wired, originals["do_ping"], HiddenKind.PING)  # type: ignore[method-assign,assignment]
        if wired.model.isolation_trips is not None:
            dialect.set_isolation_level = self._wrap_isolation(  # type: ignore[method-assign,assignment]
                wired, dialect.set_isolation_level
            )

    def _see(self, dialect: Dialect) -> _Wired | None:
        """Process-wide: ``dialect`` wired with its driver's model, on first sight; None for
        a driver dalperf does not measure."""
        with self._wired_lock:
            if dialect in self._wired:
                return self._wired[dialect]
            model = _model_of(dialect)
            wired = self._wired[dialect] = None if model is None else _Wired(dialect, model)
            if wired is not None:
                self._wire(wired)
            return wired

    def _sinks(self, dialect: Dialect) -> tuple[Sink, ...]:
        active = ACTIVE.get()
        process = _process_sinks
        if not active:
            if len(process) == 1 and process[0].dialect is None:
                return process
            if not process:
                return active
        return tuple(
            sink for sink in (*active, *process) if sink.dialect is None or sink.dialect is dialect
        )

    # statements, per engine (the hot path: every statement of a benchmark goes through here)

    def _do_execute(
        self, cursor: Any, statement: str, parameters: Any, context: Any = None
    ) -> None:
        sinks = ACTIVE.get()  # _sinks() inlined: the one hook every statement goes through
        if len(sinks) == 1:
            sinks = sinks if sinks[0].dialect is self._dialect else ()
        elif sinks:
            sinks = self._sinks(self._dialect)
        if sinks:
            self._measure(
                sinks, self._own, self._execute, cursor, statement, parameters, context, False
            )
        else:
            self._execute(cursor, statement, parameters, context)

    def _do_executemany(
        self, cursor: Any, statement: str, parameters: Any, context: Any = None
    ) -> None:
        own = self._own
        sinks = self._sinks(self._dialect)
        if sinks:
            self._measure(sinks, own, own.executemany, cursor, statement, parameters, context, True)
        else:
            own.executemany(cursor, statement, parameters, context)

    def _do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        own = self._own
        sinks = self._sinks(self._dialect)
        if sinks:
            self._measure(
                sinks, own, own.execute_no_params, cursor, statement, None, context, False
            )
        else:
            own.execute_no_params(cursor, statement, None, context)

    # statements, process-wide (dialect events: True = executed here)

    def _on_executemany(self, cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        return self._on_statement(cursor, statement, parameters, context, 1)

    def _on_execute_no_params(self, cursor: Any, statement: str, context: Any) -> bool:
        return self._on_statement(cursor, statement, None, context, 2)

    def _on_statement(
        self, cursor: Any, statement: str, parameters: Any, context: Any, how: int = 0
    ) -> bool:
        """The ``do_execute`` event itself (``how`` 0), and the other two (1: executemany,
        2: no parameters)."""
        dialect = context.dialect
        process = _process_sinks
        sinks: tuple[Sink, ...]
        if (
            len(process) == 1 and process[0].dialect is None and not ACTIVE.get()
        ):  # _sinks() inlined for the plugin's usual case
            sinks = process
        else:
            sinks = self._sinks(dialect)
            if not sinks:
                return False  # SQLAlchemy executes it
        wired = self._wired[dialect] if dialect in self._wired else self._see(dialect)
        if wired is None:
            for sink in sinks:
                sink.unsupported.add(f"{dialect.name}+{dialect.driver}")
            return False
        call = (wired.execute, wired.executemany, wired.execute_no_params)[how]
        self._measure(sinks, wired, call, cursor, statement, parameters, context, how == 1)
        return True

    def _measure(
        self,
        sinks: tuple[Sink, ...],
        wired: _Wired,
        call: _DriverCall,
        cursor: Any,
        sql: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        # The hot path: every statement of every capture runs this.  It stores one raw row
        # per statement and leaves the rest to the capture when it is read (the BEGIN and
        # prepares of the row: :func:`hidden_of`); errors, executemany and transaction
        # control take :meth:`_record` instead.  Each bytecode here costs on every statement.
        driver, begins, mark = wired.before(cursor, sql)
        if self._initializing and id(driver) in self._initializing:
            call(cursor, sql, parameters, context)  # the dialect initialisation's own queries
            return
        start = monotonic_ns()
        try:
            call(cursor, sql, parameters, context)
        except BaseException as exc:  # recorded, then handled by SQLAlchemy as usual
            end = monotonic_ns()
            self._record(
                sinks,
                wired,
                cursor,
                sql,
                parameters,
                context,
                executemany,
                start,
                end,
                driver,
                begins,
                mark,
                describe(exc),
            )
            raise
        end = monotonic_ns()
        if executemany or control_kind(sql) is not None:
            self._record(
                sinks,
                wired,
                cursor,
                sql,
                parameters,
                context,
                executemany,
                start,
                end,
                driver,
                begins,
                mark,
                None,
            )
            return
        rows, extra = wired.after(cursor, sql, driver, mark, True)
        tag = context.execution_options.get(ORM_OPTION) if context is not None else None
        site = None
        connection = id(driver)
        unit = _CURRENT_UNIT.get(connection)
        for sink in sinks:
            executions = sink.executions
            seen = executions.get(sql, 0) + 1
            executions[sql] = seen
            site_units = sink.site_units
            if site_units.get(sql, _NEVER) != unit or tag is not None or seen in _SAMPLED:
                site_units[sql] = unit
                if site is None:
                    site = call_site()
        row: StatementRow = (
            sql,
            parameters,
            start,
            end,
            connection,
            rows,
            False,
            None,
            site,
            tag,
            begins,
            extra,
        )
        for sink in sinks:
            sink.statement_rows.append(row)

    def _record(
        self,
        sinks: tuple[Sink, ...],
        wired: _Wired,
        cursor: Any,
        sql: str,
        parameters: Any,
        context: Any,
        executemany: bool,
        start: int,
        end: int,
        driver: Any,
        begins: bool,
        mark: Any,
        error: str | None,
    ) -> None:
        """:meth:`_measure`'s rarer cases: a statement that failed, an executemany,
        transaction control (SQLAlchemy's SAVEPOINT, RELEASE, ROLLBACK TO)."""
        rows, extra = wired.after(cursor, sql, driver, mark, error is None)
        connection = id(driver)
        # BEGIN and prepares ride in the batch's pipeline in a pipelined executemany
        for hidden in hidden_of(
            start, end, connection, begins, extra, executemany and wired.pipelined
        ):
            _deliver_hidden(sinks, hidden)
        if executemany and wired.per_row and error is None and len(parameters) > 1:
            _deliver_hidden(
                sinks,
                HiddenRoundTrip(
                    kind=HiddenKind.EXECUTEMANY,
                    start_ns=start,
                    end_ns=end,
                    connection=connection,
                    round_trips=len(parameters) - 1,
                ),
            )
        control = control_kind(sql)
        if control is not None:
            _deliver_hidden(
                sinks,
                HiddenRoundTrip(
                    kind=control,
                    start_ns=start,
                    end_ns=end,
                    connection=connection,
                    round_trips=1,
                    sql=sql,
                ),
            )
            return
        tag = context.execution_options.get(ORM_OPTION) if context is not None else None
        for sink in sinks:
            executions = sink.executions
            executions[sql] = executions.get(sql, 0) + 1
        row: StatementRow = (
            sql,
            parameters,
            start,
            end,
            connection,
            rows,
            executemany,
            error,
            call_site(),
            tag,
            False,
            NO_EXTRA,
        )
        for sink in sinks:
            sink.statement_rows.append(row)

    # the dialect's transaction, ping and isolation calls

    def _wrap(
        self, wired: _Wired, original: Callable[[Any], Any], kind: HiddenKind
    ) -> Callable[[Any], Any]:
        dialect, model = wired.dialect, wired.model
        in_transaction, control_mark, control_trips = (
            model.in_transaction,
            model.control_mark,
            model.control_trips,
        )
        is_ping = kind is HiddenKind.PING

        def measured(dbapi_connection: Any) -> Any:
            # every COMMIT and ROLLBACK (a pool reset on every check-in) runs this
            sinks = self._sinks(dialect)
            if not sinks:
                return original(dbapi_connection)
            dbapi = (
                dbapi_connection.dbapi_connection
                if isinstance(dbapi_connection, PoolProxiedConnection)
                else dbapi_connection
            )
            driver = dialect.get_driver_connection(cast(Any, dbapi))
            key = id(driver)
            if self._initializing and key in self._initializing:
                return original(dbapi_connection)  # part of the dialect initialisation
            resetting = key in self._resetting
            if resetting:
                self._resetting.discard(key)
            if not is_ping and not in_transaction(driver):
                return original(dbapi_connection)  # drivers send nothing on an idle session
            mark = control_mark(dbapi, driver)
            start = monotonic_ns()
            try:
                return original(dbapi_connection)
            finally:
                end = monotonic_ns()
                trips, deallocates = control_trips(is_ping, dbapi, driver, mark)
                hidden = HiddenRoundTrip(
                    kind=HiddenKind.RESET if resetting else kind,
                    start_ns=start,
                    end_ns=end,
                    connection=key,
                    round_trips=trips,
                )
                for sink in sinks:
                    sink.hidden_records.append(hidden)
                if deallocates:
                    _deliver_hidden(
                        sinks,
                        HiddenRoundTrip(
                            kind=HiddenKind.DEALLOCATE,
                            start_ns=start,
                            end_ns=end,
                            connection=key,
                            round_trips=deallocates,
                        ),
                    )

        return measured

    def _wrap_isolation(
        self, wired: _Wired, original: Callable[[Any, Any], Any]
    ) -> Callable[[Any, Any], Any]:
        dialect = wired.dialect
        mark_of, trips_of = wired.model.isolation_mark, wired.model.isolation_trips
        assert mark_of is not None and trips_of is not None

        def measured(dbapi_connection: Any, level: Any) -> Any:
            sinks = self._sinks(dialect)
            if not sinks:
                return original(dbapi_connection, level)
            driver = dialect.get_driver_connection(dbapi_connection)
            mark = mark_of(driver)
            start = monotonic_ns()
            try:
                return original(dbapi_connection, level)
            finally:
                trips = trips_of(driver, mark)
                if trips:
                    _deliver_hidden(
                        sinks,
                        HiddenRoundTrip(
                            kind=HiddenKind.ISOLATION,
                            start_ns=start,
                            end_ns=monotonic_ns(),
                            connection=id(driver),
                            round_trips=trips,
                        ),
                    )

        return measured

    def _reset(
        self, dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState
    ) -> None:
        if (
            state.asyncio_safe
            and not state.transaction_was_reset
            and (_process_sinks or ACTIVE.get())
        ):
            self._resetting.add(id(record.driver_connection))

    def _checkin(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # the pool's reset is over (or was not configured): forget the mark
        if self._resetting and dbapi_connection is not None:
            self._resetting.discard(id(record.driver_connection))

    # new connections

    def _do_connect(self, *cargs: Any, **cparams: Any) -> Any:
        """Per engine: the dialect's ``connect``, wrapped."""
        own = self._own
        if self._sinks(self._dialect):
            self._connecting[greenlet.getcurrent()] = (monotonic_ns(), own)
        return own.connect(*cargs, **cparams)

    def _on_connect(
        self,
        dialect: Dialect,
        record: ConnectionPoolEntry | None,
        cargs: list[Any],
        cparams: dict[str, Any],
    ) -> None:
        """Process-wide: the ``do_connect`` event, just before the driver connects."""
        if record is not None and self._sinks(dialect):
            wired = self._wired[dialect] if dialect in self._wired else self._see(dialect)
            if wired is not None:
                self._connecting[greenlet.getcurrent()] = (monotonic_ns(), wired)

    def _connected(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        end = monotonic_ns()
        connecting = self._connecting.pop(greenlet.getcurrent(), None)
        if connecting is None:
            return
        start, wired = connecting
        sinks = self._sinks(wired.dialect)
        if not sinks:
            return
        driver = record.driver_connection
        _deliver_hidden(
            sinks,
            HiddenRoundTrip(
                kind=HiddenKind.CONNECT,
                start_ns=start,
                end_ns=end,
                connection=id(driver),
                round_trips=wired.model.connect_round_trips(driver),
            ),
        )
        # SQLAlchemy runs the first connection's listeners under a mutex, so only the
        # connection that is about to initialise the dialect sees it uninitialised here
        if wired.dialect.server_version_info is None:
            self._initializing[id(driver)] = (end, wired)

    def _initialized(self, dbapi_connection: Any, record: ConnectionPoolEntry, *proxy: Any) -> None:
        if not self._initializing:  # every checkout runs this: nothing to do, mostly
            return
        driver = record.driver_connection
        initializing = self._initializing.pop(id(driver), None)
        if initializing is None:
            return
        start, wired = initializing
        sinks = self._sinks(wired.dialect)
        if not sinks:
            return
        _deliver_hidden(
            sinks,
            HiddenRoundTrip(
                kind=HiddenKind.INITIALIZE,
                start_ns=start,
                end_ns=monotonic_ns(),
                connection=id(driver),
                round_trips=wired.model.initialize_round_trips(wired.dialect, driver),
            ),
        )


def hidden_of(
    start: int, end: int, connection: int, begins: bool, extra: wire.Extra, pipelined: bool = False
) -> list[HiddenRoundTrip]:
    """The BEGIN, prepares, driver-internal statements and DEALLOCATE of one driver call
    (``pipelined``: BEGIN and prepares rode in an executemany's pipeline, no round trip)."""
    prepares, internal, deallocates = extra
    return [
        HiddenRoundTrip(
            kind=kind,
            start_ns=start,
            end_ns=end,
            connection=connection,
            round_trips=0 if pipelined and kind in _PIPELINED else trips,
        )
        for kind, trips in (
            (HiddenKind.BEGIN, int(begins)),
            (HiddenKind.PREPARE, prepares),
            (HiddenKind.INTERNAL, internal),
            (HiddenKind.DEALLOCATE, deallocates),
        )
        if trips
    ]


def _deliver_hidden(sinks: tuple[Sink, ...], hidden: HiddenRoundTrip) -> None:
    for sink in sinks:
        sink.hidden_records.append(hidden)
