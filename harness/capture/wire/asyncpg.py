"""What asyncpg, under SQLAlchemy's asyncpg dialect, puts on the wire that the events do not show.

asyncpg speaks the extended protocol, and SQLAlchemy's adapter prepares every statement
with ``connection.prepare()`` before it runs it.  Per driver call:

- BEGIN: the adapter starts a transaction (``Q BEGIN;``, one round trip of its own)
  before the first statement when ``adapter._transaction`` is None and the connection is
  not in autocommit.  Modelled from the adapter's state.
- Prepare: Parse/Describe/Flush, one round trip, unless the statement is in the adapter's
  per-connection LRU of prepared statements (``_prepared_statement_cache``, 100 by
  default) and not older than the dialect's schema-invalidation time.  *Measured*: the
  cache entry for the statement's text is read before and after the call; a new entry
  means asyncpg prepared it (so a re-prepare after invalidation counts too).  With
  ``prepared_statement_cache_size=0`` every call prepares.
- The execution itself: Bind/Execute/Sync, one round trip (the statement).
- Type introspection: the first time a connection meets a type it has no codec for
  (arrays of any type, enums, domains, composites), asyncpg runs its own queries: with
  jit on, a probe that switches jit off, ``WITH RECURSIVE typeinfo_tree ...``, and one
  that restores jit; each is a round trip, plus one more to prepare it the first time on
  the connection (asyncpg keeps them in its own statement cache).  *Measured*: dalperf
  counts the calls of asyncpg's internal ``Connection.__execute`` per connection (a
  counting wrapper on the class, installed while any asyncpg engine is hooked; user
  statements do not pass through it) and the growth of asyncpg's statement cache
  (``connection._stmt_cache``).  All of this happens only inside a prepare, so for a
  statement the adapter's cache holds (the common case) dalperf reads nothing but the
  cache entry.
- Close: statements evicted from the adapter's LRU are closed by asyncpg (one ``C S``
  round trip each) at its next prepare.  Measured as the shrinking of
  ``connection._stmts_to_close`` across the call.
- COMMIT / ROLLBACK (also the pool's reset on return): ``Q``, one round trip, when a
  transaction is open (``connection.is_in_transaction()``).
- ``pool_pre_ping``: BEGIN, ``;`` (prepared the first time on the connection), ROLLBACK:
  3 round trips, 4 the first time; measured like the introspection queries.
- ``executemany``: BEGIN goes out on its own as above; asyncpg prepares the statement into
  its own cache (measured as above, one round trip) and pipelines the batch, which dalperf
  counts as the statement's one round trip.
- Connection set-up: modelled like libpq's (:func:`dalperf.capture.wire.tcp_connect_round_trips`):
  asyncpg sends an SSLRequest first unless ``ssl`` is off (``sslmode=disable``) or TLS is
  direct; a password counts 2 more round trips when one was given (asyncpg does not say
  whether the server asked for it).
- SQLAlchemy's dialect initialisation: BEGIN, the four queries prepared and executed (two
  round trips each), ROLLBACK: 10 round trips.

The attributes read are internals of asyncpg 0.30+ and SQLAlchemy 2.x's adapter; the wire
truth test (``tests/test_wire_truth.py``) checks them against the socket.
"""

from __future__ import annotations

from typing import Any

from asyncpg import connection as asyncpg_connection

from dalperf.capture.wire import NO_EXTRA, Extra, WireModel, tcp_connect_round_trips
from dalperf.db import drivers

_INITIALIZE_QUERIES = 4
_INITIALIZE_TRANSACTION = 2
_AUTOCOMMIT = "autocommit"
_PREPARED: Extra = (1, 0, 0)
_DIRECT_TLS = "direct"  # asyncpg.connect_utils.SSLNegotiation.direct, a str enum

# (the adapter's cache dict or None, the statement's entry in it, asyncpg's counters when
# the statement is not cached)
_Mark = tuple[dict[str, Any] | None, Any, tuple[int, int, int] | None]

_internal_executes: dict[int, int] = {}  # id(asyncpg connection) -> internal executes so far
_users = 0
_ORIGINAL_EXECUTE = asyncpg_connection.Connection._Connection__execute


async def _counted_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
    key = id(self)
    _internal_executes[key] = _internal_executes.get(key, 0) + 1
    return await _ORIGINAL_EXECUTE(self, *args, **kwargs)


def _attach() -> None:
    global _users
    _users += 1
    if _users == 1:
        asyncpg_connection.Connection._Connection__execute = _counted_execute


def _detach() -> None:
    global _users
    _users -= 1
    if _users == 0:
        asyncpg_connection.Connection._Connection__execute = _ORIGINAL_EXECUTE
        _internal_executes.clear()


def _before(cursor: Any, sql: str) -> tuple[Any, bool, _Mark]:
    adapter = cursor._adapt_connection
    driver = cursor._connection
    cache = adapter._prepared_statement_cache
    cached = cache._data if cache is not None else None  # the LRU's dict, read again after
    entry = cached.get(sql) if cached is not None else None
    # a statement in the adapter's cache is not prepared again (unless the dialect's schema
    # invalidation says so, which re-prepares a statement whose types are known): nothing
    # else of asyncpg runs, so the counters are read only for a statement it will prepare
    counts = (
        None
        if entry is not None
        else (
            _internal_executes.get(id(driver), 0),
            len(driver._stmt_cache),
            len(driver._stmts_to_close),
        )
    )
    return (
        driver,
        adapter._transaction is None and adapter.isolation_level != _AUTOCOMMIT,
        (cached, entry, counts),
    )


def _after(cursor: Any, sql: str, driver: Any, mark: _Mark, ok: bool) -> tuple[int, Extra]:
    cached, entry, counts = mark
    prepared = cached is None or cached.get(sql) is not entry
    # the DBAPI's public names: SQLAlchemy 2.0's adapter has no _rowcount/_description
    rows = (max(cursor.rowcount, 0) if cursor.description else 0) if ok else 0
    if counts is None:
        return rows, (_PREPARED if prepared else NO_EXTRA)
    executes, statements, closing = counts
    internal = (
        _internal_executes.get(id(driver), 0)
        - executes
        + max(len(driver._stmt_cache) - statements, 0)
    )
    closed = max(closing - len(driver._stmts_to_close), 0)
    return rows, (prepared + closed, internal, 0)


def in_transaction(driver_connection: Any) -> bool:
    """Whether a COMMIT/ROLLBACK now would go to the server."""
    return bool(driver_connection.is_in_transaction())


def _control_mark(dbapi: Any, driver: Any) -> tuple[bool, int, int]:
    explicit = dbapi._transaction is None and dbapi.isolation_level != _AUTOCOMMIT
    return explicit, _internal_executes.get(id(driver), 0), len(driver._stmt_cache)


def _control_trips(
    is_ping: bool, dbapi: Any, driver: Any, mark: tuple[bool, int, int]
) -> tuple[int, int]:
    if not is_ping:
        return 1, 0
    explicit, executes, cached = mark
    return (
        2 * explicit
        + _internal_executes.get(id(driver), 0)
        - executes
        + max(len(driver._stmt_cache) - cached, 0)
    ), 0


def connect_round_trips(driver_connection: Any) -> int:
    """Round trips that opening this (already open) asyncpg connection took (modelled)."""
    params = driver_connection._params
    transport = driver_connection._transport
    return tcp_connect_round_trips(
        unix_socket=isinstance(driver_connection._addr, str),
        ssl_request=bool(params.ssl) and params.ssl_negotiation != _DIRECT_TLS,
        ssl_in_use=transport is not None and transport.get_extra_info("sslcontext") is not None,
        password=bool(params.password),
    )


def initialize_round_trips(dialect: Any, driver_connection: Any) -> int:
    """SQLAlchemy's first-connect set-up: each query prepared, then executed."""
    return 2 * _INITIALIZE_QUERIES + _INITIALIZE_TRANSACTION


MODEL = WireModel(
    driver=drivers.ASYNCPG,
    before=_before,
    after=_after,
    in_transaction=in_transaction,
    control_mark=_control_mark,
    control_trips=_control_trips,
    connect_round_trips=connect_round_trips,
    initialize_round_trips=initialize_round_trips,
    pipelined_executemany=False,
    attach=_attach,
    detach=_detach,
)
