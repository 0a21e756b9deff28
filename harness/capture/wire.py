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
- Connection set-up, counted in round trips of the PostgreSQL protocol:
  1 for the TCP handshake (not for a unix socket),
  1 for the SSLRequest that libpq sends first unless ``sslmode=disable`` (the server
  answers ``N`` when it has no SSL) or ``sslnegotiation=direct``,
  1 for the TLS 1.3 handshake when SSL is in use,
  1 for the start-up message answered with AuthenticationOk, parameters and ReadyForQuery,
  2 more when a password was used (SCRAM-SHA-256, PostgreSQL's default since 14, needs two
  extra exchanges).
  A trust-authenticated TCP connection without SSL, as with the embedded server, is 3.
  GSSAPI encryption negotiation is not counted: libpq attempts it only with Kerberos
  credentials present.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import pq

PIPELINED_EXECUTEMANY = psycopg.Pipeline.is_supported()
SUPPORTED_DRIVERS = frozenset({"psycopg", "psycopg_async"})  # SQLAlchemy's driver names


def unsupported_message(seen: str) -> str:
    """One line saying that statements through ``seen`` ("dialect+driver") were not measured."""
    names = ", ".join(f"postgresql+{d}" for d in sorted(SUPPORTED_DRIVERS))
    return (f"dalperf measures PostgreSQL through psycopg 3 ({names}); statements sent "
            f"through {seen} were not captured")

_IDLE = pq.TransactionStatus.IDLE
_PASSWORD_ROUND_TRIPS = 2


def sends_begin(driver_connection: Any) -> bool:
    """Whether psycopg will send BEGIN before the next statement on this connection."""
    return (driver_connection.pgconn.transaction_status == _IDLE
            and not driver_connection.autocommit)


def prepared_statements(driver_connection: Any) -> int:
    """How many statements psycopg has prepared on the server for this connection."""
    return len(driver_connection._prepared._names)


def in_transaction(driver_connection: Any) -> bool:
    """Whether a COMMIT/ROLLBACK now would go to the server (a transaction is open)."""
    return driver_connection.pgconn.transaction_status != _IDLE


def rows_fetched(cursor: Any) -> int:
    """Rows the server sent for the statement just executed on this psycopg cursor.

    0 for statements without a result set.  Reads libpq's result directly: asking the
    cursor for ``description`` builds column objects, which costs more than everything
    else the listeners do.
    """
    result = cursor.pgresult
    return max(cursor.rowcount, 0) if result is not None and result.nfields else 0


def connect_round_trips(driver_connection: Any) -> int:
    """Round trips that opening this (already open) psycopg connection took; see the module doc."""
    pgconn = driver_connection.pgconn
    options = {opt.keyword: opt.val for opt in pgconn.info}
    trips = 1
    if not _is_unix_socket(driver_connection.info.host):
        trips += 1
        if options.get(b"sslmode") != b"disable" and options.get(b"sslnegotiation") != b"direct":
            trips += 1
        if pgconn.ssl_in_use:
            trips += 1
    if pgconn.used_password:
        trips += _PASSWORD_ROUND_TRIPS
    return trips


def _is_unix_socket(host: str) -> bool:
    return not host or host.startswith(("/", "@"))
