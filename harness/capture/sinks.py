"""Which captures receive what is sent from here, now.

A capture is a :class:`Sink`: plain containers the hubs append records to.  Two kinds:

- Captures of one engine (``Capture(engine)``) are held in :data:`ACTIVE`, a context
  variable holding the captures active in the current context: asyncio tasks and
  ``asyncio.to_thread`` inherit it, SQLAlchemy's async greenlets share their task's, and
  plain threads get it only when the caller passes its context along
  (:func:`dalperf.capture.session.bind_context`).  Two operations in different tasks or
  threads therefore never see each other's records.
- Process-wide captures (``Capture(None)``, :data:`PROCESS`) receive what every thread
  sends, through every engine, except the threads an earlier process-wide capture left
  running: a thread started inside one and still alive when it ended belongs to it, so
  what it sends later never counts in the next one (a pytest test's leaked thread is not
  the next test's).  A thread started outside every process-wide capture (the main
  thread, a fixture's or a pool's started before) counts in each.

The hubs read :data:`ACTIVE` and :data:`PROCESS` on every statement; the modules that note
units of work, ORM loads and reads ask :func:`recording` and :func:`current` instead;
the hooks that are not on the per-statement path ask :func:`receivers`.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

    from dalperf.capture.records import HiddenRoundTrip, StatementRow


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
    # process-wide: the threads an earlier capture left running, alive at this one's start,
    # whose statements this one does not count (named, so that the caller can say so)
    uncounted_threads: tuple[str, ...]


ACTIVE: ContextVar[tuple[Sink, ...]] = ContextVar("dalperf_active_captures", default=())


class ProcessSinks:
    """The process-wide captures, replaced (never mutated) under a lock, read without one."""

    __slots__ = ("every", "foreign", "lone")

    def __init__(self) -> None:
        self.every: tuple[Sink, ...] = ()
        # per capture: the threads (by ident) an earlier capture left running when it began
        self.foreign: dict[Sink, dict[int, threading.Thread]] = {}
        # ``every`` when it is one capture of every engine with no foreign thread (the pytest
        # plugin's usual case, served without filtering), else None
        self.lone: tuple[Sink, ...] | None = None

    def _set(self, sinks: tuple[Sink, ...]) -> None:
        self.every = sinks
        self.lone = (
            sinks if len(sinks) == 1 and sinks[0].dialect is None and not self.foreign else None
        )


PROCESS = ProcessSinks()
_lock = threading.Lock()
_started: dict[Sink, set[threading.Thread]] = {}  # per capture: the threads alive at its start
_left_running: set[threading.Thread] = set()  # started inside a capture, alive at its end


def add_process(sink: Sink) -> None:
    """``sink`` receives every statement of every thread until :func:`remove_process`
    (the process-wide hub must be on: :func:`dalperf.capture.instrument.install_everywhere`)."""
    with _lock:
        alive = {thread for thread in _left_running if thread.is_alive()}
        _left_running.intersection_update(alive)
        foreign = {thread.ident: thread for thread in alive if thread.ident is not None}
        if foreign:
            PROCESS.foreign[sink] = foreign
            sink.uncounted_threads = tuple(sorted(thread.name for thread in alive))
        _started[sink] = set(threading.enumerate())
        PROCESS._set((*PROCESS.every, sink))


def remove_process(sink: Sink) -> None:
    with _lock:
        before = _started.pop(sink, set())
        _left_running.update(
            thread
            for thread in threading.enumerate()
            if thread not in before and thread is not threading.current_thread()
        )
        PROCESS.foreign.pop(sink, None)
        PROCESS._set(tuple(s for s in PROCESS.every if s is not sink))


def recording() -> bool:
    """Whether any capture would record a statement sent from here now."""
    return bool(PROCESS.every or ACTIVE.get())


def current() -> tuple[Sink, ...]:
    """Every capture that records what is sent from here now, of any engine."""
    process = PROCESS.every
    return (*ACTIVE.get(), *(_own(process) if PROCESS.foreign else process))


def receivers(dialect: Dialect) -> tuple[Sink, ...]:
    """The captures that record what is sent from here now through ``dialect``."""
    active = ACTIVE.get()
    if not active:
        lone = PROCESS.lone
        if lone is not None:
            return lone
        if not PROCESS.every:
            return active
    process = _own(PROCESS.every) if PROCESS.foreign else PROCESS.every
    return tuple(
        sink for sink in (*active, *process) if sink.dialect is None or sink.dialect is dialect
    )


def _own(process: tuple[Sink, ...]) -> tuple[Sink, ...]:
    """The process-wide captures for which the current thread is not one an earlier
    capture left running."""
    ident = threading.get_ident()
    return tuple(
        sink
        for sink in process
        if PROCESS.foreign.get(sink, {}).get(ident) is not threading.current_thread()
    )
