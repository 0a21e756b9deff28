"""Units of work: which Session, connection checkout and HTTP request each statement ran in.

A repeat is only a problem when one unit of work makes it: six requests that each look the
user up once are six units running it once, not an N+1.  Three sources, none on the
per-statement path (each costs once per unit, and nothing unless a capture is recording):

- a Core connection checkout (the pool's ``checkout`` event): a new unit on that connection;
- a ``Session`` (its ``after_begin`` event, which gives the Session and its connection): the
  connection's statements belong to that Session, across all of its transactions, until
  the connection is checked out again;
- an HTTP request a test sends to an ASGI/WSGI app in the process (Starlette's and FastAPI's
  ``TestClient``, httpx's ``ASGITransport`` and ``WSGITransport``, Werkzeug's and Flask's
  test client): its start and end, so that a Session a test shares between requests
  still counts once per request.

Events are recorded in the captures (:attr:`Sink.unit_events`, :attr:`Sink.requests`) with
their time; :func:`resolve` assigns each statement afterwards: the last event on its
connection before it started, and the latest request running when it started.  Requests
sent concurrently (``asyncio.gather`` over an ``AsyncClient``) overlap and are told apart
by time only, the latest one wins.

The same module remembers the object a flush just wrote, when it wrote one, so that the
reload that follows (``add(x); commit(); refresh(x)`` or ``x.id`` after the commit) is known
as a refresh after write (:func:`written`), which is never a finding; the objects of a
flush of many, reloaded one by one after the commit, are a column reload.
"""

from __future__ import annotations

import functools
import itertools
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import monotonic_ns
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from dalperf.capture import sinks

SESSION = "Session"
CONNECTION = "connection"
REQUEST = "request"

# (module, class, method, async): where a test client hands a request to the app
_REQUEST_ENTRIES = (
    ("starlette.testclient", "_TestClientTransport", "handle_request", False),
    ("httpx", "ASGITransport", "handle_async_request", True),
    ("httpx", "WSGITransport", "handle_request", False),
    ("werkzeug.test", "Client", "run_wsgi_app", False),
)

_ids = itertools.count(1)
_session_units: weakref.WeakKeyDictionary[Session, int] = weakref.WeakKeyDictionary()
# InstanceStates a flush just wrote alone (a flush of one object: a create or update helper)
_written: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_users = 0
_patched: dict[tuple[str, str, str], Callable[..., Any]] = {}  # entry -> original
# id(driver connection) -> its current unit of work, read by the hooks for call-site sampling
CURRENT: dict[int, int] = {}


@dataclass(frozen=True, slots=True)
class Unit:
    """The unit of work of one statement: its request (0: none) and its Session or
    connection checkout (``kind`` says which; 0: unknown)."""

    request: int
    id: int
    kind: str


def install() -> None:
    """Put the listeners on the Session and Pool classes; every call needs an
    :func:`uninstall`."""
    global _users
    with _lock:
        if _users == 0:
            event.listen(Session, "after_begin", _after_begin)
            event.listen(Session, "after_flush", _after_flush)
            event.listen(Pool, "checkout", _checkout)
        _users += 1


def uninstall() -> None:
    global _users
    with _lock:
        _users -= 1
        if _users == 0:
            event.remove(Session, "after_begin", _after_begin)
            event.remove(Session, "after_flush", _after_flush)
            event.remove(Pool, "checkout", _checkout)
            for (module, owner, name), original in _patched.items():
                cls = getattr(sys.modules.get(module), owner, None)
                if cls is not None:
                    setattr(cls, name, original)
            _patched.clear()
            CURRENT.clear()


def watch_requests() -> None:
    """Time the requests of the test clients whose modules are imported by now (idempotent;
    cheap enough to call at every capture's start)."""
    for module, owner, name, is_async in _REQUEST_ENTRIES:
        key = (module, owner, name)
        if key in _patched:
            continue
        cls = getattr(sys.modules.get(module), owner, None)
        original = getattr(cls, name, None) if cls is not None else None
        if original is None:
            continue
        with _lock:
            if key not in _patched and _users:
                _patched[key] = original
                setattr(cls, name, _timed_async(original) if is_async else _timed(original))


def written(state: Any) -> bool:
    """Whether ``state`` (an InstanceState) was written by a flush since its last load;
    asking forgets it, so only the first reload after a write is one."""
    if state in _written:
        _written.discard(state)
        return True
    return False


def resolve(
    statements: Sequence[Any],
    unit_events: Sequence[tuple[int, int, int, str]],
    requests: Sequence[tuple[int, int, int]],
) -> list[Unit]:
    """The unit of each statement (in the order given); see the module docstring."""
    by_connection: dict[int, list[tuple[int, int, str]]] = {}
    for at, connection, unit, kind in sorted(unit_events):
        by_connection.setdefault(connection, []).append((at, unit, kind))
    spans = sorted(requests)
    result = []
    for statement in statements:
        events = by_connection.get(statement.connection, ())
        unit, kind = 0, CONNECTION
        for at, number, what in reversed(events):  # few events per connection
            if at <= statement.start_ns:
                unit, kind = number, what
                break
        request = 0
        for start, end, number in reversed(spans):
            if start <= statement.start_ns <= end:
                request = number
                break
        result.append(Unit(request=request, id=unit, kind=kind))
    return result


def _deliver(row: tuple[int, int, int, str]) -> None:
    # to every capture recording here: an event about another engine's connection never
    # matches one of a capture's statements
    for sink in sinks.current():
        sink.unit_events.append(row)
    CURRENT[row[1]] = row[2]


def _after_begin(session: Session, transaction: Any, connection: Any) -> None:
    if not sinks.recording():
        return
    unit = _session_units.get(session)
    if unit is None:
        unit = _session_units[session] = next(_ids)
    driver = connection.connection.driver_connection
    _deliver((monotonic_ns(), id(driver), unit, SESSION))


def _after_flush(session: Session, flush_context: Any) -> None:
    if not sinks.recording():
        return
    wrote = (*session.new, *session.dirty)
    # ten objects of one flush reloaded one by one are a column reload (expire_on_commit)
    if len(wrote) == 1:
        state = getattr(wrote[0], "_sa_instance_state", None)
        if state is not None:
            _written.add(state)


def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    if not sinks.recording():
        return
    _deliver((monotonic_ns(), id(record.driver_connection), next(_ids), CONNECTION))


def _request_started() -> tuple[int, int]:
    return monotonic_ns(), next(_ids)


def _request_ended(start: int, number: int) -> None:
    row = (start, monotonic_ns(), number)
    for sink in sinks.current():
        sink.requests.append(row)


def _timed(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def request(*args: Any, **kwargs: Any) -> Any:
        if not sinks.recording():
            return original(*args, **kwargs)
        start, number = _request_started()
        try:
            return original(*args, **kwargs)
        finally:
            _request_ended(start, number)

    return request


def _timed_async(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def request(*args: Any, **kwargs: Any) -> Any:
        if not sinks.recording():
            return await original(*args, **kwargs)
        start, number = _request_started()
        try:
            return await original(*args, **kwargs)
        finally:
            _request_ended(start, number)

    return request
