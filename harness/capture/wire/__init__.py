"""What each driver puts on the wire that SQLAlchemy's execution events do not show.

One module per driver, each documenting what that driver sends on its own and whether
dalperf *models* it (predicts it from cheap driver state) or *measures* it (reads a
counter that the traffic itself moves):

- :mod:`~dalperf.capture.wire.psycopg`: psycopg 3, sync and async;
- :mod:`~dalperf.capture.wire.psycopg2`: psycopg2 (sync);
- :mod:`~dalperf.capture.wire.asyncpg`: asyncpg (async).

Each module builds a :class:`WireModel`, the same set of functions for every driver, which
:mod:`dalperf.capture.recorder` calls around every driver call.  :func:`model_for` picks
the model of an engine's dialect; the driver modules are imported only when used, so a
missing optional driver costs nothing.  ``tests/test_wire_truth.py`` checks every model
against the request/response turns the latency proxy counts at the socket.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dalperf.db import drivers

# (prepare, internal, deallocate) round trips a driver call added: see WireModel.after
Extra = tuple[int, int, int]
NO_EXTRA: Extra = (0, 0, 0)
SUPPORTED_DRIVERS = drivers.DIALECT_DRIVERS  # SQLAlchemy's driver names (postgresql+NAME)
_INITIALIZE_QUERIES = 4
_INITIALIZE_TRANSACTION = 2
_INITIALIZE_HSTORE_LOOKUP = 3


def unsupported_message(seen: str) -> str:
    """One line saying that statements through ``seen`` ("dialect+driver") were not measured."""
    names = ", ".join(f"postgresql+{d}" for d in sorted(SUPPORTED_DRIVERS))
    return (
        f"dalperf measures PostgreSQL through {drivers.SUPPORTED_TEXT} ({names}); "
        f"statements sent through {seen} were not captured"
    )


@dataclass(frozen=True, kw_only=True)
class WireModel:
    """The hidden round trips of one driver, as functions of its state.

    ``cursor`` is the DBAPI cursor SQLAlchemy's ``do_execute`` gets, ``driver`` the
    driver's own connection (``ConnectionPoolEntry.driver_connection``), ``dbapi`` the
    DBAPI connection SQLAlchemy holds (an adapter for async drivers).
    """

    driver: drivers.Driver
    # before a statement: (driver, whether BEGIN goes out first, a mark for ``after``)
    before: Callable[[Any, str], tuple[Any, bool, Any]]
    # after it (``ok``: it did not raise): the rows the server sent (0 without a result set
    # or after an error), and the (prepare, internal, deallocate) round trips the call added
    # besides the statement and its BEGIN; internal = the driver's own statements (asyncpg's
    # type introspection).  One call for both: it runs on every statement.
    after: Callable[[Any, str, Any, Any, bool], tuple[int, Extra]]
    in_transaction: Callable[[Any], bool]  # whether COMMIT/ROLLBACK would go to the server
    # around a commit/rollback/ping: a mark, then (round trips of the call, deallocates)
    control_mark: Callable[[Any, Any], Any]
    control_trips: Callable[
        [bool, Any, Any, Any], tuple[int, int]
    ]  # (is_ping, dbapi, driver, mark)
    connect_round_trips: Callable[[Any], int]
    initialize_round_trips: Callable[[Any, Any], int]  # (dialect, driver)
    pipelined_executemany: bool  # BEGIN/prepare ride in an executemany's pipeline
    executemany_per_row: bool = False  # an executemany sends each parameter set on its own
    # round trips of SQLAlchemy's dialect.set_isolation_level (None: it sends nothing):
    # a mark of the driver before the call, then the trips from the mark
    isolation_mark: Callable[[Any], Any] | None = None
    isolation_trips: Callable[[Any, Any], int] | None = None
    attach: Callable[[], None] = lambda: None  # while any engine of this driver is hooked
    detach: Callable[[], None] = lambda: None


_MODULES = {
    "psycopg": "psycopg",
    "psycopg_async": "psycopg",
    "psycopg2": "psycopg2",
    "asyncpg": "asyncpg",
}


def model_for(dialect: Any) -> WireModel:
    """The wire model of a SQLAlchemy dialect; :class:`~dalperf.errors.UsageError` naming
    the supported drivers if dalperf has none for it."""
    driver = drivers.by_dialect(dialect.name, dialect.driver)
    module = importlib.import_module(f"dalperf.capture.wire.{_MODULES[dialect.driver]}")
    model: WireModel = (
        module.ASYNC_MODEL if dialect.is_async and hasattr(module, "ASYNC_MODEL") else module.MODEL
    )
    assert model.driver is driver
    return model


def tcp_connect_round_trips(
    *, unix_socket: bool, ssl_request: bool, ssl_in_use: bool, password: bool
) -> int:
    """Round trips of opening a PostgreSQL connection, counted the same way for every driver.

    1 for the TCP handshake (not for a unix socket), 1 for the SSLRequest the driver sends
    first unless told not to (the server answers ``N`` when it has no SSL), 1 for the TLS
    1.3 handshake when SSL is in use, 1 for the start-up message answered with
    AuthenticationOk, parameters and ReadyForQuery, and 2 more when a password was used
    (SCRAM-SHA-256, PostgreSQL's default since 14, needs two extra exchanges).  A
    trust-authenticated TCP connection without SSL, as with the embedded server, is 3.
    """
    trips = 1
    if not unix_socket:
        trips += 1 + ssl_request + ssl_in_use
    return trips + (2 if password else 0)


def is_unix_socket(host: str) -> bool:
    """Whether libpq's ``host`` is a unix socket folder (or an abstract socket)."""
    return not host or host.startswith(("/", "@"))


def libpq_initialize_round_trips(dialect: Any, driver_connection: Any) -> int:
    """SQLAlchemy's first-connect set-up on the two libpq drivers, psycopg and psycopg2: four
    queries, BEGIN before them and ROLLBACK after unless in autocommit, and with native
    hstore the driver's type look-up (three more). Here, not in either driver's module, so
    that one driver's model never imports the other driver."""
    trips = _INITIALIZE_QUERIES
    if not driver_connection.autocommit:
        trips += _INITIALIZE_TRANSACTION
    if getattr(dialect, "use_native_hstore", False):
        trips += _INITIALIZE_HSTORE_LOOKUP
    return trips
