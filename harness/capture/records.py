"""The immutable records a capture produces: one per statement, one per hidden round trip.

A :class:`Statement` is one driver ``execute``/``executemany`` call carrying the
operation's own SQL.  A :class:`HiddenRoundTrip` is traffic the operation caused that is
not one of its statements: transaction control (BEGIN, COMMIT/ROLLBACK, savepoints), the
pool's pre-ping and reset-on-return, connection set-up.  Times are ``time.monotonic_ns``.

Parameters are kept as the driver got them; :func:`redact` replaces every value by its
type name (keeping the shape) for anything that leaves the process, such as a report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dalperf.capture.fingerprint import fingerprint

NS_PER_MS = 1_000_000
ORM_OPTION = "dalperf_orm"  # the execution option carrying an ORM load's tag (capture.orm)


class HiddenKind(StrEnum):
    """What a hidden round trip was for."""

    CONNECT = "connect"  # a new DBAPI connection: TCP, SSL negotiation, start-up, authentication
    INITIALIZE = "initialize"  # SQLAlchemy's dialect initialisation on an engine's first connection
    PING = "ping"  # the pool's pre-ping on checkout
    BEGIN = "begin"
    COMMIT = "commit"
    ROLLBACK = "rollback"
    SAVEPOINT = "savepoint"
    RELEASE_SAVEPOINT = "release_savepoint"
    ROLLBACK_TO_SAVEPOINT = "rollback_to_savepoint"
    RESET = "reset"  # the pool's rollback (or commit) when a connection is returned
    PREPARE = (
        "prepare"  # the driver preparing a statement (psycopg: after 5 runs; asyncpg: each new one)
    )
    ISOLATION = "isolation"  # psycopg2's SET default_transaction_isolation on leaving autocommit
    EXECUTEMANY = "executemany"  # an executemany's further round trips (psycopg2: one per row)
    INTERNAL = "internal"  # the driver's own statements (asyncpg's type introspection)
    DEALLOCATE = "deallocate"  # psycopg dropping its prepared statements (DEALLOCATE ALL)


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement the operation sent: one ``execute``/``executemany`` of the driver.

    Built from a :data:`StatementRow` (the same fields in the same order) when a capture's
    statements are read: the listeners only store plain tuples, which costs far less
    per statement than constructing a frozen dataclass.

    ``start_ns``..``end_ns`` spans the driver call, so it includes the implicit BEGIN that
    psycopg sends before the first statement of a transaction (recorded separately as a
    :class:`HiddenRoundTrip` with the same interval).  ``rows`` is what the server sent back (0 for
    statements without a result set); ``connection`` identifies the driver connection.
    """

    sql: str
    parameters: Any
    start_ns: int
    end_ns: int
    connection: int
    rows: int
    executemany: bool
    error: str | None
    call_site: str | None
    orm: Any = None  # what the ORM was loading (dalperf.capture.orm.Tag), None for other SQL
    begins: bool = False  # the driver sent a BEGIN first: the statement opened a transaction
    caller: str | None = None  # the call site's caller line (dalperf.capture.callsite.Site)

    @property
    def fingerprint(self) -> str:
        """:func:`dalperf.capture.fingerprint.fingerprint` of the SQL, computed when asked
        (cached by text), so that recording a statement never parses it."""
        return fingerprint(self.sql)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_MS


# What the hooks store per statement: a Statement's fields in order (sql, parameters, start_ns,
# end_ns, connection, rows, executemany, error, call_site, orm; the call site as a
# dalperf.capture.callsite.Site, which holds its caller too), then whether the driver sent
# a BEGIN first and its other hidden round trips (prepare, internal, deallocate), which the
# capture turns into HiddenRoundTrip records when it is read.
StatementRow = tuple[
    str,
    Any,
    int,
    int,
    int,
    int,
    bool,
    str | None,
    tuple[str, str | None] | None,
    Any,
    bool,
    tuple[int, int, int],
]
STATEMENT_FIELDS = 10  # the Statement's part of a StatementRow (then its ``begins``)
SITE_FIELD = 8  # where a StatementRow holds the call site
ORM_FIELD = 9  # where a StatementRow holds the ORM tag


@dataclass(frozen=True, slots=True, kw_only=True)
class HiddenRoundTrip:
    """Traffic that is not one of the operation's statements.

    ``round_trips`` is what it costs on the network: 1 for most, several for a new
    connection or the dialect initialisation, 0 for a BEGIN or PREPARE that psycopg
    pipelines together with an ``executemany``.  The interval is measured around the driver
    call that sent it; what travels inside a statement's (or a rollback's) driver call, such
    as an implicit BEGIN, carries that call's interval (see :mod:`dalperf.capture.recorder`).
    """

    kind: HiddenKind
    start_ns: int
    end_ns: int
    connection: int
    round_trips: int
    sql: str | None = None


def redact(parameters: Any) -> Any:
    """``parameters`` with every value replaced by ``"<type>"``; dicts and sequences keep their
    shape, None (no parameters, or SQL NULL) stays None."""
    if parameters is None:
        return None
    if isinstance(parameters, Mapping):
        return {str(key): redact(value) for key, value in parameters.items()}
    if isinstance(parameters, list | tuple):
        return [redact(value) for value in parameters]
    return f"<{type(parameters).__name__}>"


def jsonable(parameters: Any) -> Any:
    """``parameters`` as JSON-serialisable data: scalars kept, anything else as its ``str``."""
    if isinstance(parameters, Mapping):
        return {str(key): jsonable(value) for key, value in parameters.items()}
    if isinstance(parameters, list | tuple):
        return [jsonable(value) for value in parameters]
    if parameters is None or isinstance(parameters, bool | int | float | str):
        return parameters
    return str(parameters)
