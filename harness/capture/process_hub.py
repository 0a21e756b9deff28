"""The hooks of every engine of the process: SQLAlchemy's class-level dialect and pool events.

The process-wide hub (:func:`dalperf.capture.instrument.install_everywhere`, used by the
pytest plugin and by ``Capture(None)``) listens on the ``Dialect`` and ``Pool`` classes, so
every engine of the process is seen, created before or after, sync or async: the statements
and ``do_connect`` through SQLAlchemy's dialect events, the only way to see an engine dalperf
has never met.  Each dialect instance is wired on first sight with its own driver's wire
model (:func:`dalperf.capture.wire.model_for`), its COMMIT, ROLLBACK, ping and isolation
calls wrapped (:meth:`dalperf.capture.recorder.Recorder.wire`); a dialect dalperf has no
model for (pg8000, MySQL...) is not measured, its ``dialect+driver`` is reported in each
capture's ``unsupported``.

Process-wide captures (:data:`dalperf.capture.sinks.PROCESS`) receive every statement
from every thread; per-engine captures keep working, served by the class-level hooks (an
engine hub would shadow them, so none is attached while this one is on).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.pool import ConnectionPoolEntry, Pool

from dalperf.capture import wire
from dalperf.capture.recorder import Hook, Recorder, StatementKind, Wired
from dalperf.capture.sinks import ACTIVE, PROCESS, receivers

_EXECUTEMANY = StatementKind.EXECUTEMANY
_NO_PARAMS = StatementKind.NO_PARAMS
_UNSEEN: Any = object()  # a dialect not seen yet (None: seen, not measured)


def model_of(dialect: Dialect) -> wire.WireModel | None:
    """The wire model of ``dialect``, None for a driver dalperf does not measure."""
    if dialect.name != "postgresql" or dialect.driver not in wire.SUPPORTED_DRIVERS:
        return None
    return wire.model_for(dialect)


class ProcessHub(Recorder):
    """The hooks of every engine, on SQLAlchemy's ``Dialect`` and ``Pool`` classes."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks = (
            Hook(Dialect, "do_execute", self.do_execute),
            Hook(Dialect, "do_executemany", self.do_executemany),
            Hook(Dialect, "do_execute_no_params", self.do_execute_no_params),
            Hook(Dialect, "do_connect", self.do_connect),
            Hook(Pool, "connect", self.connected, first=True),
            # SQLAlchemy's own first-connect listener (the dialect initialisation) sits on
            # the pool instance, after every class-level one: at class level the end of
            # the initialisation is seen at the checkout that follows it
            Hook(Pool, "checkout", self.initialized),
            Hook(Pool, "reset", self.reset),
            Hook(Pool, "checkin", self.checkin),
        )

    # statements (dialect events: True = executed here, False = SQLAlchemy executes it)

    def do_execute(
        self,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        kind: StatementKind = StatementKind.EXECUTE,
    ) -> bool:
        """``DialectEvents.do_execute``: one statement with one parameter set (and, through
        :meth:`do_executemany` and :meth:`do_execute_no_params`, the other two ``kind``)."""
        dialect = context.dialect
        sinks = PROCESS.lone  # receivers() inlined for the plugin's usual case
        if sinks is None or ACTIVE.get():
            sinks = receivers(dialect)
            if not sinks:
                return False
        wired = self._wired.get(dialect, _UNSEEN)
        if wired is _UNSEEN:
            wired = self._see(dialect)
        if wired is None:
            for sink in sinks:
                sink.unsupported.add(f"{dialect.name}+{dialect.driver}")
            return False
        self.measure(
            sinks,
            wired,
            wired.calls[kind],
            cursor,
            statement,
            parameters,
            context,
            kind is _EXECUTEMANY,
        )
        return True

    def do_executemany(self, cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        """``DialectEvents.do_executemany``: one statement with many parameter sets."""
        return self.do_execute(cursor, statement, parameters, context, _EXECUTEMANY)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any) -> bool:
        """``DialectEvents.do_execute_no_params``: a statement without parameters."""
        return self.do_execute(cursor, statement, None, context, _NO_PARAMS)

    def do_connect(
        self,
        dialect: Dialect,
        record: ConnectionPoolEntry | None,
        cargs: list[Any],
        cparams: dict[str, Any],
    ) -> None:
        """``DialectEvents.do_connect``: the driver is about to open a new connection (the
        pool's ``connect`` event, :meth:`connected`, ends it)."""
        if record is not None and receivers(dialect):
            wired = self._wired[dialect] if dialect in self._wired else self._see(dialect)
            if wired is not None:
                self.connecting_now(wired)

    def _see(self, dialect: Dialect) -> Wired | None:
        """``dialect`` wired with its driver's model, on first sight; None for a driver
        dalperf does not measure."""
        with self._wired_lock:
            if dialect in self._wired:
                return self._wired[dialect]
            model = model_of(dialect)
            if model is None:
                self._wired[dialect] = None
                return None
            wired = Wired(dialect, model)
            self.wire(wired)
            return wired
