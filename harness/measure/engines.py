"""How a run reaches the database: the handles a variant gets and the engines behind them.

A variant opens its own sessions from ``db.sessions``, one per unit of work, exactly as a
DAL opens them from a global pool: an async variant gets a :class:`Db`, a sync one a
:class:`SyncDb`.  For a read-only operation ``db.sessions`` is bound to the engine, so
variants that ``asyncio.gather`` several sessions run them on separate pooled connections
(a mutating one gets them from :func:`dalperf.measure.isolation.isolated` instead).
:func:`open_engines` makes a run's two engines, async and sync, through one driver pairing,
with the server-side limits (statement timeout, read-only transactions) on every
connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from dalperf.db import drivers, urls
from dalperf.measure.config import DEFAULT_POOL_SIZE

DEFAULT_MAX_OVERFLOW = 10  # SQLAlchemy's own default: connections beyond the pool, on demand


@dataclass(frozen=True, kw_only=True)
class Db:
    """Handed to async variants and params factories: where to open sessions."""

    sessions: async_sessionmaker[AsyncSession]


@dataclass(frozen=True, kw_only=True)
class SyncDb:
    """Handed to sync variants and params factories: where to open sessions."""

    sessions: sessionmaker[Session]


@dataclass(frozen=True, kw_only=True)
class Engines:
    """The async and sync engines of one database; the runner instruments these."""

    async_engine: AsyncEngine
    sync_engine: Engine

    @cached_property
    def db(self) -> Db:
        return Db(sessions=async_sessionmaker(self.async_engine, expire_on_commit=False))

    @cached_property
    def sync_db(self) -> SyncDb:
        return SyncDb(sessions=sessionmaker(self.sync_engine, expire_on_commit=False))


@asynccontextmanager
async def open_engines(
    url: URL,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = DEFAULT_MAX_OVERFLOW,
    statement_timeout_s: float | None = None,
    read_only: bool = False,
    driver: str | drivers.Driver | None = None,
) -> AsyncIterator[Engines]:
    """Engines (async and sync) for ``url`` through ``driver``'s pairing
    (:mod:`dalperf.db.drivers`; default psycopg 3 for both); disposed when the block exits.

    Nothing connects until first use.  ``pool_size`` must cover the widest
    ``asyncio.gather`` of any variant, or parallel queries queue for a connection;
    ``max_overflow`` more are opened on demand (0: ``pool_size`` is a hard cap).
    Every connection gets ``statement_timeout`` (the server cancels a statement that runs,
    or waits on a lock, longer) and, with ``read_only``, ``default_transaction_read_only``
    (the server refuses any write), as libpq ``options``.
    """
    pair = drivers.pairing(driver)
    kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": max_overflow}

    def engine_kwargs(dialect_driver: str) -> dict[str, Any]:
        args = connect_args(
            url, dialect_driver, statement_timeout_s=statement_timeout_s, read_only=read_only
        )
        return {**kwargs, "connect_args": args} if args else kwargs

    engines = Engines(
        async_engine=create_async_engine(
            urls.sqlalchemy_url(url, pair.async_dialect), **engine_kwargs(pair.async_dialect)
        ),
        sync_engine=create_engine(
            urls.sqlalchemy_url(url, pair.sync_dialect), **engine_kwargs(pair.sync_dialect)
        ),
    )
    try:
        yield engines
    finally:
        await engines.async_engine.dispose()
        engines.sync_engine.dispose()


def session_options(
    url: URL, *, statement_timeout_s: float | None = None, read_only: bool = False
) -> str:
    """libpq ``options`` for ``url``'s own (kept first) plus a statement timeout and
    read-only transactions; ``""`` when there is nothing to add."""
    parts = [str(url.query.get("options") or "")]
    if statement_timeout_s is not None:
        parts.append(f"-c statement_timeout={max(1, round(statement_timeout_s * 1000))}")
    if read_only:
        parts.append("-c default_transaction_read_only=on")
    return " ".join(p for p in parts if p)


def connect_args(
    url: URL,
    dialect_driver: str,
    *,
    statement_timeout_s: float | None = None,
    read_only: bool = False,
) -> dict[str, Any]:
    """The driver's connect arguments for a statement timeout and read-only transactions:
    libpq ``options`` (:func:`session_options`) for psycopg and psycopg2, asyncpg's
    ``server_settings`` (it has no ``options``); empty when there is nothing to add."""
    if dialect_driver == drivers.ASYNCPG.async_dialect:
        settings: dict[str, str] = {}
        if statement_timeout_s is not None:
            settings["statement_timeout"] = str(max(1, round(statement_timeout_s * 1000)))
        if read_only:
            settings["default_transaction_read_only"] = "on"
        return {"server_settings": settings} if settings else {}
    options = session_options(url, statement_timeout_s=statement_timeout_s, read_only=read_only)
    return {"options": options} if options else {}
