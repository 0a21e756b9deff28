"""``AsyncSession.run_sync`` over a sync helper that loads what it needs eagerly
(``selectinload(Customer.orders)``): two statements in the greenlet.  CLEAN."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import async_engine
from corpus_app.models import Customer


def order_counts(session: Session) -> dict[str, int]:
    customers = session.scalars(select(Customer).options(selectinload(Customer.orders)))
    return {c.name: len(c.orders) for c in customers}


async def main() -> dict[str, int]:
    engine = async_engine("asyncpg")
    async with AsyncSession(engine) as session:
        counts = await session.run_sync(order_counts)
    await engine.dispose()
    return counts


def test_clean() -> None:
    assert sum(asyncio.run(main()).values()) == 10
