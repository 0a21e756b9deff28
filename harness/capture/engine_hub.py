"""The hooks of one engine: its dialect instance's driver calls, wrapped, and its pool's events.

An :class:`EngineHub` is attached to an engine while at least one capture of it is active
(:func:`dalperf.capture.instrument.attach`), and removed when the last one ends; nested and
concurrent captures share it.  Its hooks go on the engine's dialect and pool, which an
``engine.execution_options(...)`` copy shares; captures normalise such copies to the
engine they came from.

The statements arrive through the dialect's ``do_execute``, ``do_executemany`` and
``do_execute_no_params``, wrapped on the dialect instance: the lean path.  SQLAlchemy's
dialect events of the same names would do too, but a dialect with any event listener makes
SQLAlchemy dispatch events around every statement, and engine-level events
(``before/after_cursor_execute``) run its whole execute-event machinery; both cost a
measurable part of the 5% overhead budget, so the hub adds no listener to the dialect (nor
to the engine).  The dialect's ``connect`` is wrapped too: the start of a new connection.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from dalperf.capture import wire
from dalperf.capture.recorder import Hook, Recorder, Wired
from dalperf.capture.sinks import ACTIVE, receivers


class EngineHub(Recorder):
    """The hooks of one engine, on its dialect instance and its pool."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        dialect = self._dialect = engine.dialect
        own = self._own = Wired(dialect, wire.model_for(dialect))
        self._execute = own.execute
        pool = engine.pool
        self.hooks = (
            Hook(pool, "connect", self.connected, first=True),
            # after SQLAlchemy's own first-connect listener (the dialect initialisation)
            Hook(pool, "connect", self.initialized),
            Hook(pool, "reset", self.reset),
            Hook(pool, "checkin", self.checkin),
        )

    def attach(self) -> None:
        super().attach()
        own = self._own
        own.wrap("do_execute", self.do_execute)
        own.wrap("do_executemany", self.do_executemany)
        own.wrap("do_execute_no_params", self.do_execute_no_params)
        own.wrap("connect", self.connect)
        self.wire(own)

    # the dialect's methods, wrapped (the hot path: every statement of a benchmark)

    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        """The dialect's ``do_execute``: one statement with one parameter set."""
        sinks = ACTIVE.get()  # receivers() inlined: the one hook every statement goes through
        if len(sinks) == 1:
            sinks = sinks if sinks[0].dialect is self._dialect else ()
        elif sinks:
            sinks = receivers(self._dialect)
        if sinks:
            self.measure(
                sinks, self._own, self._execute, cursor, statement, parameters, context, False
            )
        else:
            self._execute(cursor, statement, parameters, context)

    def do_executemany(
        self, cursor: Any, statement: str, parameters: Any, context: Any = None
    ) -> None:
        """The dialect's ``do_executemany``: one statement with many parameter sets."""
        own = self._own
        sinks = receivers(self._dialect)
        if sinks:
            self.measure(sinks, own, own.executemany, cursor, statement, parameters, context, True)
        else:
            own.executemany(cursor, statement, parameters, context)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        """The dialect's ``do_execute_no_params``: a statement without parameters."""
        own = self._own
        sinks = receivers(self._dialect)
        if sinks:
            self.measure(sinks, own, own.execute_no_params, cursor, statement, None, context, False)
        else:
            own.execute_no_params(cursor, statement, None, context)

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        """The dialect's ``connect``: the driver opens a new connection (the pool's
        ``connect`` event, :meth:`connected`, ends it)."""
        own = self._own
        if receivers(self._dialect):
            self.connecting_now(own)
        return own.connect(*cargs, **cparams)
