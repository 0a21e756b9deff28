"""The transaction-isolation guard: a mutating variant's writes are rolled back, always.

For a mutating operation :func:`isolated` binds ``db.sessions`` to a single connection
inside an outer transaction that is rolled back afterwards, with
``join_transaction_mode="create_savepoint"``: the variant's own ``sessions.begin()`` and
``commit()`` become SAVEPOINT / RELEASE, and nothing it writes survives.  Sharing one
connection, a mutating variant must not run statements concurrently.  A variant that tries
to end that outer transaction itself (``text("COMMIT")``, ``END``, ``ROLLBACK``, ``PREPARE
TRANSACTION``, or ``Connection.commit()``) is refused before anything reaches the server:
:class:`IsolationBreach` is raised into the variant, which the runner records as a failure.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import sessionmaker

from dalperf.measure.engines import Db, Engines, SyncDb

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# a cheap first look: only statements holding one of these words are parsed (pglast)
_ENDING_WORDS_RE = re.compile(r"\b(?:commit|end|rollback|abort|prepare)\b", re.IGNORECASE)
_PLACEHOLDER_RE = re.compile(r"%\([^)]*\)s|%s")  # psycopg's, which the parser does not know


class IsolationBreach(RuntimeError):
    """A mutating variant tried to end the outer transaction that keeps its writes undone."""


@asynccontextmanager
async def isolated(engines: Engines, *, sync: bool = False) -> AsyncIterator[Db | SyncDb]:
    """A :class:`Db` (or :class:`SyncDb` if ``sync``) whose writes are rolled back on exit.

    Its sessions share one connection inside an outer transaction, and their own
    transactions become savepoints, so a mutating variant can commit as usual.  The outer
    BEGIN is sent on entry (with a SAVEPOINT), not with the variant's first statement, so a
    runner that enters and leaves this block under ``dalperf.capture.session.suspended()`` counts
    none of the isolation's own traffic.  The variant cannot end the outer transaction
    (:func:`_guard`): it gets :class:`IsolationBreach` instead, and nothing is sent.
    """
    if sync:
        with engines.sync_engine.connect() as sync_connection:
            sync_outer = sync_connection.begin()
            closing = _guard(sync_connection)
            try:
                sync_connection.begin_nested()
                with (
                    _outer_kept(sync_connection),
                    _driver_commit_refused(sync_connection, is_async=False),
                ):
                    yield SyncDb(
                        sessions=sessionmaker(
                            bind=sync_connection,
                            expire_on_commit=False,
                            join_transaction_mode="create_savepoint",
                        )
                    )
            finally:
                closing.set()
                sync_outer.rollback()
        return
    async with engines.async_engine.connect() as connection:
        outer = await connection.begin()
        closing = _guard(connection.sync_connection)  # type: ignore[arg-type]
        try:
            await connection.begin_nested()
            sync_side: Connection = connection.sync_connection  # type: ignore[assignment]
            with _outer_kept(sync_side), _driver_commit_refused(sync_side, is_async=True):
                yield Db(
                    sessions=async_sessionmaker(
                        bind=connection,
                        expire_on_commit=False,
                        join_transaction_mode="create_savepoint",
                    )
                )
        finally:
            closing.set()
            await outer.rollback()


def _guard(connection: Connection) -> _Flag:
    """Refuse, on ``connection``, whatever would end the outer transaction: a statement
    that commits or rolls back (parsed, before it is sent) and ``Connection.commit()`` or
    ``.rollback()``; the returned flag, once set, lets dalperf's own final rollback through."""
    closing = _Flag()

    def before_cursor_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        ending = _ending_statement(statement)
        if ending is not None:
            raise IsolationBreach(
                f"the variant sent {ending}, which would end the transaction "
                "dalperf rolls its writes back in; commit through the "
                "session instead (dalperf turns that into a savepoint)"
            )

    def end(kind: str) -> Callable[[Any], None]:
        def refuse(_conn: Any) -> None:
            if not closing:
                raise IsolationBreach(
                    f"the variant called Connection.{kind}(), which would "
                    "end the transaction dalperf rolls its writes back in"
                )

        return refuse

    event.listen(connection, "before_cursor_execute", before_cursor_execute)
    event.listen(connection, "commit", end("commit"))
    event.listen(connection, "rollback", end("rollback"))
    return closing


@contextmanager
def _driver_commit_refused(connection: Connection, *, is_async: bool) -> Iterator[None]:
    """The driver connection's own ``commit()`` raises :class:`IsolationBreach` meanwhile
    (an instance attribute that shadows psycopg's method, removed afterwards).

    psycopg 3 only: psycopg2's connection is a C type whose methods cannot be shadowed, and
    asyncpg's has no ``commit()`` (and no instance attributes)."""
    driver: Any = connection.connection.driver_connection
    message = (
        "the variant called the driver connection's commit(), which would end the "
        "transaction dalperf rolls its writes back in"
    )

    def refuse() -> None:
        raise IsolationBreach(message)

    async def refuse_async() -> None:
        raise IsolationBreach(message)

    try:
        driver.commit = refuse_async if is_async else refuse
    except AttributeError:  # psycopg2 or asyncpg: nothing to shadow
        yield
        return
    try:
        yield
    finally:
        del driver.commit


class _Flag:
    """A one-way switch, false until :meth:`set`."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def __bool__(self) -> bool:
        return self._set


def _ending_statement(statement: str) -> str | None:
    """``COMMIT``, ``ROLLBACK`` or ``PREPARE TRANSACTION`` if ``statement`` holds one."""
    if not _ENDING_WORDS_RE.search(statement):
        return None
    from pglast import ast, parse_sql
    from pglast.enums import TransactionStmtKind
    from pglast.parser import ParseError

    ending = {
        TransactionStmtKind.TRANS_STMT_COMMIT: "COMMIT",
        TransactionStmtKind.TRANS_STMT_ROLLBACK: "ROLLBACK",
        TransactionStmtKind.TRANS_STMT_PREPARE: "PREPARE TRANSACTION",
    }
    try:
        parsed = parse_sql(_PLACEHOLDER_RE.sub("$1", statement))
    except ParseError:
        return None  # the server will refuse it as well
    for raw in parsed:
        if isinstance(raw.stmt, ast.TransactionStmt) and raw.stmt.kind in ending:
            return ending[raw.stmt.kind]
    return None


@contextmanager
def _outer_kept(connection: Connection) -> Iterator[None]:
    """Raise :class:`IsolationBreach` (instead of whatever the variant raised) if the
    driver's connection left the outer transaction behind SQLAlchemy's back: the raw DBAPI
    connection's ``commit()``, which no SQLAlchemy event sees."""
    try:
        yield
    except Exception as exc:
        if _left_the_transaction(connection) or _savepoint_vanished(exc):
            raise IsolationBreach(_DRIVER_BREACH) from exc
        raise
    if _left_the_transaction(connection):
        raise IsolationBreach(_DRIVER_BREACH)


_DRIVER_BREACH = (
    "the variant ended the transaction dalperf rolls its writes back in through "
    "the driver's own connection; its writes may have been kept"
)


_INVALID_SAVEPOINT = "3B001"  # SQLSTATE invalid_savepoint_specification


def _savepoint_vanished(exc: BaseException | None) -> bool:
    """Whether the server no longer knew a savepoint of the isolation: its transaction ended.

    Told by SQLSTATE, which every driver's error carries (``sqlstate``: psycopg 3 and
    asyncpg; ``pgcode``: psycopg2)."""
    while exc is not None:
        if _INVALID_SAVEPOINT in (getattr(exc, "sqlstate", None), getattr(exc, "pgcode", None)):
            return True
        exc = exc.__cause__ or getattr(exc, "orig", None)
    return False


def _left_the_transaction(connection: Connection) -> bool:
    from dalperf.capture import wire

    driver: Any = connection.connection.driver_connection
    return not wire.model_for(connection.dialect).in_transaction(driver)
