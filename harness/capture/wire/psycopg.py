"""What psycopg 3 puts on the wire that SQLAlchemy's execution events do not show.

The rules mirror psycopg's own code, read from its connection state at the moment
SQLAlchemy announces what it is about to do:

- BEGIN: sent by the driver right before a statement when the connection is not in
  autocommit and the session is idle (no transaction open).  Inside ``executemany`` the
  BEGIN rides in the same pipeline as the batch, so it costs no round trip of its own.
- COMMIT / ROLLBACK (``connection.commit()``/``rollback()``, the pool's reset on return):
  sent only when a transaction is open; on an idle session they are no-ops.
- Prepared statements: psycopg prepares a query on its own once it has run
  ``prepare_threshold`` times (5) on a connection, which costs a round trip of its own
  inside the next execute (none inside an ``executemany`` pipeline); and it drops them all with
  DEALLOCATE ALL, one more round trip, after a ROLLBACK (also ROLLBACK TO SAVEPOINT), DROP,
  ALTER or DISCARD ALL while any exist.  Both are read from the size of psycopg's
  prepared-statement cache (``connection._prepared._names``, an internal of psycopg 3) before
  and after the call.  The single DEALLOCATE of a statement evicted from a full cache
  (more than ``prepared_max``, 100, distinct statements on one connection) is not counted.
- Connection set-up: libpq's own exchanges, counted by
  :func:`dalperf.capture.wire.tcp_connect_round_trips` from what libpq reports (whether
  it used SSL, a password, a unix socket).
- SQLAlchemy's dialect initialisation on an engine's first connection: four queries
  (server version, current_schema(), standard_conforming_strings, transaction isolation
  level), BEGIN before them and ROLLBACK after (unless autocommit), and with native hstore
  psycopg's type lookup wrapped in SAVEPOINT/RELEASE: 9 round trips.

Everything here is modelled: read from psycopg's state, cheap enough for every statement.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import pq

from dalperf.capture.wire import (
    NO_EXTRA,
    Extra,
    WireModel,
    is_unix_socket,
    libpq_initialize_round_trips,
    tcp_connect_round_trips,
)
from dalperf.db import drivers

_IDLE = pq.TransactionStatus.IDLE
_PREPARED: Extra = (1, 0, 0)
_DEALLOCATED: Extra = (0, 0, 1)


# The four functions below run around every statement: one frame each, and psycopg's plain
# attributes (``_conn``, ``_autocommit``, ``pgresult``, ``_rowcount``) rather than the
# properties over them, which would cost a frame apiece.


def _before_sync(cursor: Any, sql: str) -> tuple[Any, bool, int]:
    driver = cursor._conn
    return (
        driver,
        driver.pgconn.transaction_status == _IDLE and not driver._autocommit,
        len(driver._prepared._names),
    )


def _before_async(cursor: Any, sql: str) -> tuple[Any, bool, int]:
    driver = cursor._cursor._conn  # SQLAlchemy's adapter wraps psycopg's cursor
    return (
        driver,
        driver.pgconn.transaction_status == _IDLE and not driver._autocommit,
        len(driver._prepared._names),
    )


def _after_sync(
    cursor: Any, sql: str, driver: Any, prepared_before: int, ok: bool
) -> tuple[int, Extra]:
    """The rows fetched, and a statement psycopg prepared (its cache grew) or DEALLOCATE ALL
    (it emptied).

    Rows are read from libpq's result directly (0 without a result set): asking the cursor
    for ``description`` builds column objects, which costs more than everything else the
    hooks do.
    """
    prepared = len(driver._prepared._names)
    extra = (
        NO_EXTRA
        if prepared == prepared_before
        else _PREPARED
        if prepared > prepared_before
        else NO_EXTRA
        if prepared
        else _DEALLOCATED
    )
    result = cursor.pgresult  # a plain attribute, unlike _conn's property
    if ok and result is not None and result.nfields and cursor._rowcount > 0:
        return cursor._rowcount, extra
    return 0, extra


def _after_async(cursor: Any, sql: str, driver: Any, mark: int, ok: bool) -> tuple[int, Extra]:
    return _after_sync(cursor._cursor, sql, driver, mark, ok)


def in_transaction(driver_connection: Any) -> bool:
    """Whether a COMMIT/ROLLBACK now would go to the server (a transaction is open)."""
    return driver_connection.pgconn.transaction_status != _IDLE


def _control_mark(dbapi: Any, driver: Any) -> int:
    return len(driver._prepared._names)


def _control_trips(is_ping: bool, dbapi: Any, driver: Any, prepared_before: int) -> tuple[int, int]:
    """1 for the COMMIT/ROLLBACK/ping, and 1 DEALLOCATE ALL if it dropped the prepared ones."""
    return 1, 1 if prepared_before and not driver._prepared._names else 0


def connect_round_trips(driver_connection: Any) -> int:
    """Round trips that opening this (already open) psycopg connection took; see the module doc."""
    pgconn = driver_connection.pgconn
    options = {opt.keyword: opt.val for opt in pgconn.info}
    return tcp_connect_round_trips(
        unix_socket=is_unix_socket(driver_connection.info.host),
        ssl_request=(
            options.get(b"sslmode") != b"disable" and options.get(b"sslnegotiation") != b"direct"
        ),
        ssl_in_use=bool(pgconn.ssl_in_use),
        password=bool(pgconn.used_password),
    )


MODEL = WireModel(
    driver=drivers.PSYCOPG,
    before=_before_sync,
    after=_after_sync,
    in_transaction=in_transaction,
    control_mark=_control_mark,
    control_trips=_control_trips,
    connect_round_trips=connect_round_trips,
    initialize_round_trips=libpq_initialize_round_trips,
    pipelined_executemany=psycopg.Pipeline.is_supported(),
)
ASYNC_MODEL = WireModel(
    driver=drivers.PSYCOPG,
    before=_before_async,
    after=_after_async,
    in_transaction=in_transaction,
    control_mark=_control_mark,
    control_trips=_control_trips,
    connect_round_trips=connect_round_trips,
    initialize_round_trips=libpq_initialize_round_trips,
    pipelined_executemany=MODEL.pipelined_executemany,
)
