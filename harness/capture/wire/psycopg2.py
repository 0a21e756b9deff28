"""What psycopg2 puts on the wire that SQLAlchemy's execution events do not show.

psycopg2 speaks libpq's simple query protocol only: every statement is one ``Q`` message
(parameters interpolated on the client), never prepared, no type look-ups, so the hidden
traffic is transaction control and set-up:

- BEGIN: psycopg2 sends it as a command of its own, one round trip before the first
  statement of a transaction, when the connection is not in autocommit and its status is
  ``STATUS_READY`` (no transaction open).  Modelled: ``connection.status`` and
  ``connection.autocommit`` are plain reads of psycopg2's C struct.  The round trip lies
  inside the statement's driver call, so it gets the statement's interval.
- COMMIT / ROLLBACK (also the pool's reset on return): one round trip when the status is
  ``STATUS_BEGIN``; psycopg2 sends nothing on an idle connection.  Modelled the same way.
- Leaving autocommit: when a connection goes from autocommit back to transactions (SQLAlchemy
  resetting an ``isolation_level="AUTOCOMMIT"`` connection on its return to the pool, or
  any ``set_isolation_level``) and psycopg2 holds an explicit isolation level (it does
  after the first such reset), psycopg2 sends ``SET default_transaction_isolation``, one
  round trip.  Modelled from ``autocommit`` and ``isolation_level`` before and after
  SQLAlchemy's ``set_isolation_level``, which dalperf wraps on the dialect while attached.
- ``pool_pre_ping``: SQLAlchemy runs ``SELECT 1`` in a temporary autocommit, 1 round trip,
  plus the SET above when it leaves the temporary autocommit.
- ``executemany``: psycopg2 runs one ``Q`` per parameter set, one round trip each; dalperf
  counts the call as one statement (as for every driver) and the other n - 1 round trips as
  hidden (``executemany``).  Modelled from the number of parameter sets.  SQLAlchemy sends
  INSERTs of many rows as "insertmanyvalues" pages instead, one statement per page, which
  dalperf sees one by one.
- Connection set-up: libpq's, the same as psycopg 3's
  (:func:`dalperf.capture.wire.tcp_connect_round_trips`).
- SQLAlchemy's dialect initialisation on an engine's first connection: the four queries
  in BEGIN/ROLLBACK and, with native hstore, psycopg2's own hstore OID look-up
  (BEGIN, a ``pg_type`` query, ROLLBACK): 9 round trips.

Everything here is modelled from psycopg2's state; there is no preparation to measure.
"""

from __future__ import annotations

from typing import Any

from psycopg2 import extensions

from dalperf.capture.wire import (
    NO_EXTRA,
    Extra,
    WireModel,
    is_unix_socket,
    libpq_initialize_round_trips,
    tcp_connect_round_trips,
)
from dalperf.db import drivers

_READY = extensions.STATUS_READY
_BEGIN = extensions.STATUS_BEGIN


def _before(cursor: Any, sql: str) -> tuple[Any, bool, None]:
    driver = cursor.connection
    return driver, driver.status == _READY and not driver.autocommit, None


def _after(cursor: Any, sql: str, driver: Any, mark: None, ok: bool) -> tuple[int, Extra]:
    return (rows_fetched(cursor) if ok else 0), NO_EXTRA


def rows_fetched(cursor: Any) -> int:
    """Rows the server sent for the statement just executed (0 without a result set)."""
    return max(cursor.rowcount, 0) if cursor.description is not None else 0


def in_transaction(driver_connection: Any) -> bool:
    """Whether a COMMIT/ROLLBACK now would go to the server."""
    return bool(driver_connection.status == _BEGIN)


def connect_round_trips(driver_connection: Any) -> int:
    """Round trips that opening this (already open) psycopg2 connection took."""
    info = driver_connection.info
    options = driver_connection.get_dsn_parameters()
    return tcp_connect_round_trips(
        unix_socket=is_unix_socket(info.host),
        ssl_request=(
            options.get("sslmode") != "disable" and options.get("sslnegotiation") != "direct"
        ),
        ssl_in_use=bool(info.ssl_in_use),
        password=bool(info.used_password),
    )


def isolation_mark(driver_connection: Any) -> tuple[bool, Any]:
    return driver_connection.autocommit, driver_connection.isolation_level


def isolation_trips(driver_connection: Any, mark: tuple[bool, Any]) -> int:
    """1 when the call left autocommit with an explicit isolation level (the SET)."""
    was_autocommit, level = mark
    return int(was_autocommit and level is not None and not driver_connection.autocommit)


def _control_trips(
    is_ping: bool, dbapi: Any, driver: Any, mark: tuple[bool, Any]
) -> tuple[int, int]:
    if not is_ping:
        return 1, 0
    was_autocommit, level = mark  # the ping's temporary autocommit ends with the SET
    return 1 + int(not was_autocommit and level is not None), 0


MODEL = WireModel(
    driver=drivers.PSYCOPG2,
    before=_before,
    after=_after,
    in_transaction=in_transaction,
    control_mark=lambda dbapi, driver: isolation_mark(driver),
    control_trips=_control_trips,
    connect_round_trips=connect_round_trips,
    initialize_round_trips=libpq_initialize_round_trips,
    pipelined_executemany=False,
    executemany_per_row=True,
    isolation_mark=isolation_mark,
    isolation_trips=isolation_trips,
)
