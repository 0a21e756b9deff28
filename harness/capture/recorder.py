"""The recorder both hubs share: what one driver call becomes in the captures.

A hub (:mod:`dalperf.capture.engine_hub` for one engine, :mod:`dalperf.capture.process_hub`
for every engine of the process) decides where its hooks go; a :class:`Recorder`, which
both are, turns what the hooks see into records for the captures that receive them
(:mod:`dalperf.capture.sinks`).  Every interval is measured with ``time.monotonic_ns``:

- Statements: the hub hands each driver call to :meth:`Recorder.measure`, which runs the
  call itself, so it times exactly that call and records its error, if any, before
  SQLAlchemy handles it.  Transaction control arriving this way (SQLAlchemy's SAVEPOINT /
  RELEASE / ROLLBACK TO) is hidden traffic, not a query.  What the driver sends on its own
  inside the same call (a BEGIN, a prepare, type introspection: :mod:`dalperf.capture.wire`,
  one module per driver) gets the statement's interval; the depth computation chains them
  with the statement.
- COMMIT, ROLLBACK, the pool's pre-ping (``do_commit``, ``do_rollback``, ``do_ping``) and,
  with psycopg2, ``set_isolation_level`` (the SET it may send): wrapped on each dialect
  instance the hub measures (:meth:`Recorder.wire`), because no event surrounds them.
  A rollback is the pool's reset on return when the pool's ``reset`` event came just
  before it (until its ``checkin``).
- A new connection, from just before the driver connects (the hub marks it:
  :attr:`Recorder.connecting`) to the end of the pool's ``connect`` listeners
  (:meth:`Recorder.connected`, the first of them); on an engine's very first connection,
  SQLAlchemy's dialect initialisation follows, up to :meth:`Recorder.initialized` (its
  statements are not the operation's).

ORM executions are tagged by :mod:`dalperf.capture.orm`; the tag reaches the recorder
through the statement's execution options and is stored in the record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from time import monotonic_ns
from typing import Any, cast

import greenlet
from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, PoolResetState

from dalperf.capture import orm, units, wire
from dalperf.capture.callsite import call_site
from dalperf.capture.fingerprint import control_kind
from dalperf.capture.records import ORM_OPTION, HiddenKind, HiddenRoundTrip, StatementRow
from dalperf.capture.sinks import ACTIVE, PROCESS, Sink, receivers
from dalperf.capture.wire import NO_EXTRA
from dalperf.errors import describe

_PIPELINED = (HiddenKind.BEGIN, HiddenKind.PREPARE)
# A statement gets a call site when its text runs for the first time in a unit of work (a
# Session or a checkout of its connection: dalperf.capture.units.CURRENT), for the 2nd, 8th,
# 32nd ... time (at a cost that grows with the log of the count), and when it is an ORM
# relationship or column load (the findings need the site of each).
_SAMPLED = frozenset((3, 4, *(2 * 4**k for k in range(32))))  # 3rd, 4th: a short loop's sites
_NEVER = object()
_CURRENT_UNIT = units.CURRENT  # bound once: read on every statement
DriverCall = Callable[[Any, str, Any, Any], Any]  # (cursor, statement, parameters, context)


class StatementKind(IntEnum):
    """Which of the dialect's three statement calls sent a statement (the index of that
    call in :attr:`Wired.calls`)."""

    EXECUTE = 0  # ``do_execute``: one statement, one parameter set
    EXECUTEMANY = 1  # ``do_executemany``: one statement, many parameter sets
    NO_PARAMS = 2  # ``do_execute_no_params``: a statement without parameters


@dataclass(frozen=True, slots=True)
class Hook:
    """One SQLAlchemy event listener of a hub: the object whose events it receives, the
    event, and the method that handles it.

    The hub chooses the target (an engine's pool, or the ``Pool`` and ``Dialect`` classes
    for every engine) when it builds its table of hooks; :meth:`listen` and :meth:`remove`
    register whatever the table says, the way SQLAlchemy's ``event`` package resolves a
    dispatch target apart from ``listen``.
    """

    target: Any
    name: str
    fn: Callable[..., Any]
    first: bool = False  # run before the listeners already there (SQLAlchemy's ``insert``)

    def listen(self) -> None:
        event.listen(self.target, self.name, self.fn, insert=self.first)

    def remove(self) -> None:
        event.remove(self.target, self.name, self.fn)


class Wired:
    """One dialect instance as dalperf measures it: its driver's wire model, the dialect's
    own driver calls (taken before any wrapping), and the methods wrapped on it."""

    __slots__ = (
        "after",
        "before",
        "calls",
        "connect",
        "dialect",
        "execute",
        "execute_no_params",
        "executemany",
        "model",
        "per_row",
        "pipelined",
        "wrapped",
    )

    def __init__(self, dialect: Dialect, model: wire.WireModel) -> None:
        self.dialect = dialect
        self.model = model
        self.before = model.before
        self.after = model.after
        self.pipelined = model.pipelined_executemany
        self.per_row = model.executemany_per_row
        self.execute: DriverCall = dialect.do_execute
        self.executemany: DriverCall = dialect.do_executemany
        no_params = dialect.do_execute_no_params
        self.execute_no_params: DriverCall = lambda cursor, statement, parameters, context: (
            no_params(cursor, statement, context)
        )
        self.calls = (self.execute, self.executemany, self.execute_no_params)
        self.connect = dialect.connect
        self.wrapped: list[str] = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> None:
        """Make ``fn`` the dialect instance's ``name`` (it shadows the class's method) until
        :meth:`release`."""
        setattr(self.dialect, name, fn)
        self.wrapped.append(name)

    def release(self) -> None:
        """Take every wrapper off the dialect instance and detach the wire model."""
        for name in self.wrapped:
            vars(self.dialect).pop(name, None)
        self.wrapped.clear()
        self.model.detach()


class Recorder:
    """What both hubs do with the traffic their hooks see, and the state they carry
    between paired events.

    A hub builds :attr:`hooks` (its event listeners, on the targets it chooses) and calls
    :meth:`measure` for each statement; :meth:`attach` and :meth:`detach` register and
    remove everything.
    """

    hooks: tuple[Hook, ...]

    def __init__(self) -> None:
        self.users = 0
        self.attached = False
        self._wired: dict[Dialect, Wired | None] = {}  # None: a driver not measured
        self._wired_lock = threading.Lock()
        # greenlet -> (start of the driver's connect, dialect): the pool's connect event
        # follows in the same thread (its main greenlet) or the same asyncio task
        # (SQLAlchemy's greenlet)
        self.connecting: dict[Any, tuple[int, Wired]] = {}
        # id(driver connection) -> (start of initialisation, dialect)
        self._initializing: dict[int, tuple[int, Wired]] = {}
        self._resetting: set[int] = set()  # id(driver connection) the pool is about to reset

    def attach(self) -> None:
        for hook in self.hooks:
            hook.listen()
        orm.install()
        units.install()
        self.attached = True

    def detach(self) -> None:
        with self._wired_lock:
            for wired in self._wired.values():
                if wired is not None:
                    wired.release()
            self._wired.clear()
        for hook in self.hooks:
            hook.remove()
        orm.uninstall()
        units.uninstall()
        self.attached = False

    def wire(self, wired: Wired) -> None:
        """Wrap the dialect's COMMIT, ROLLBACK, ping and (when the driver's model counts it)
        isolation calls, and remember the dialect as measured."""
        wired.model.attach()
        dialect = wired.dialect
        for name, kind in (
            ("do_commit", HiddenKind.COMMIT),
            ("do_rollback", HiddenKind.ROLLBACK),
            ("do_ping", HiddenKind.PING),
        ):
            wired.wrap(name, self._wrap(wired, getattr(dialect, name), kind))
        if wired.model.isolation_trips is not None:
            wired.wrap(
                "set_isolation_level", self._wrap_isolation(wired, dialect.set_isolation_level)
            )
        self._wired[dialect] = wired

    # statements

    def measure(
        self,
        sinks: tuple[Sink, ...],
        wired: Wired,
        call: DriverCall,
        cursor: Any,
        sql: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        """Run one driver call that sends a statement and record it in ``sinks``."""
        # The hot path: every statement of every capture runs this.  It stores one raw row
        # per statement and leaves the rest to the capture when it is read (the BEGIN and
        # prepares of the row: :func:`hidden_of`); errors, executemany and transaction
        # control take :meth:`_record` instead.  Each bytecode here costs on every statement.
        driver, begins, mark = wired.before(cursor, sql)
        if self._initializing and id(driver) in self._initializing:
            call(cursor, sql, parameters, context)  # the dialect initialisation's own queries
            return
        failure: BaseException | None = None
        start = monotonic_ns()
        try:
            call(cursor, sql, parameters, context)
        except BaseException as exc:  # recorded below, then handled by SQLAlchemy as usual
            failure = exc
            raise
        finally:
            end = monotonic_ns()
            rare = failure is not None or executemany or control_kind(sql) is not None
            if rare:
                error = None if failure is None else describe(failure)
                failure = None  # no cycle through the traceback's frames
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
                    error,
                )
        if rare:
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
        wired: Wired,
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
        """:meth:`measure`'s rarer cases: a statement that failed, an executemany,
        transaction control (SQLAlchemy's SAVEPOINT, RELEASE, ROLLBACK TO)."""
        rows, extra = wired.after(cursor, sql, driver, mark, error is None)
        connection = id(driver)
        # BEGIN and prepares ride in the batch's pipeline in a pipelined executemany
        for hidden in hidden_of(
            start, end, connection, begins, extra, executemany and wired.pipelined
        ):
            deliver_hidden(sinks, hidden)
        if executemany and wired.per_row and error is None and len(parameters) > 1:
            deliver_hidden(
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
            deliver_hidden(
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
        self, wired: Wired, original: Callable[[Any], Any], kind: HiddenKind
    ) -> Callable[[Any], Any]:
        """``original`` (the dialect's ``do_commit``, ``do_rollback`` or ``do_ping``),
        measured as a hidden round trip of ``kind`` whenever the driver really sends one."""
        dialect, model = wired.dialect, wired.model
        in_transaction, control_mark, control_trips = (
            model.in_transaction,
            model.control_mark,
            model.control_trips,
        )
        is_ping = kind is HiddenKind.PING

        def measured(dbapi_connection: Any) -> Any:
            # every COMMIT and ROLLBACK (a pool reset on every check-in) runs this
            sinks = receivers(dialect)
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
                    deliver_hidden(
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
        self, wired: Wired, original: Callable[[Any, Any], Any]
    ) -> Callable[[Any, Any], Any]:
        """``original`` (the dialect's ``set_isolation_level``), measured as a hidden
        round trip when the driver's model says it sent something."""
        dialect = wired.dialect
        mark_of, trips_of = wired.model.isolation_mark, wired.model.isolation_trips
        assert mark_of is not None and trips_of is not None

        def measured(dbapi_connection: Any, level: Any) -> Any:
            sinks = receivers(dialect)
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
                    deliver_hidden(
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

    # the pool's events (both hubs listen to them, on the targets they choose)

    def reset(
        self, dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState
    ) -> None:
        """``PoolEvents.reset``: the pool is about to reset a connection returned to it;
        the rollback that follows (:meth:`_wrap`) is recorded as a RESET."""
        if (
            state.asyncio_safe
            and not state.transaction_was_reset
            and (PROCESS.every or ACTIVE.get())
        ):
            self._resetting.add(id(record.driver_connection))

    def checkin(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        """``PoolEvents.checkin``: the pool's reset is over (or was not configured), so a
        mark :meth:`reset` left is forgotten."""
        if self._resetting and dbapi_connection is not None:
            self._resetting.discard(id(record.driver_connection))

    def connecting_now(self, wired: Wired) -> None:
        """The driver is about to connect (the hub calls this just before): note when."""
        self.connecting[greenlet.getcurrent()] = (monotonic_ns(), wired)

    def connected(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        """``PoolEvents.connect``, the first listener (before SQLAlchemy's own, which
        initialises the dialect): the new connection is up; records its CONNECT from
        :meth:`connecting_now`, and notes the dialect initialisation that follows on an
        engine's first connection."""
        end = monotonic_ns()
        connecting = self.connecting.pop(greenlet.getcurrent(), None)
        if connecting is None:
            return
        start, wired = connecting
        sinks = receivers(wired.dialect)
        if not sinks:
            return
        driver = record.driver_connection
        deliver_hidden(
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

    def initialized(self, dbapi_connection: Any, record: ConnectionPoolEntry, *proxy: Any) -> None:
        """The first pool event after SQLAlchemy's dialect initialisation (the hub says
        which): records the INITIALIZE that :meth:`connected` noted."""
        if not self._initializing:  # every checkout runs this: nothing to do, mostly
            return
        driver = record.driver_connection
        initializing = self._initializing.pop(id(driver), None)
        if initializing is None:
            return
        start, wired = initializing
        sinks = receivers(wired.dialect)
        if not sinks:
            return
        deliver_hidden(
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


def deliver_hidden(sinks: tuple[Sink, ...], hidden: HiddenRoundTrip) -> None:
    for sink in sinks:
        sink.hidden_records.append(hidden)
