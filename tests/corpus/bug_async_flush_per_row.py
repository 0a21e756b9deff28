"""An async importer on asyncpg that adds and flushes each new order on its own (to read its
id), ten single-row INSERTs in one AsyncSession.  BUG: write-loop; ``add_all`` and one flush
returns every id from one multi-row INSERT."""

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import Order

EXPECT = {"write-loop"}
FIX = "session.add_all(orders); await session.flush()"


async def import_orders(batched: bool) -> list[int]:
    engine = async_engine("asyncpg")
    async with AsyncSession(engine) as session:
        orders = [Order(customer_id=4, status="imported", total=i) for i in range(10)]
        if batched:
            session.add_all(orders)
            await session.flush()
        else:
            for order in orders:
                session.add(order)
                await session.flush()
        ids = [o.id for o in orders]
        await session.commit()
    await engine.dispose()
    return ids


def test_bug() -> None:
    assert len(asyncio.run(import_orders(batched=False))) == 10


def test_fixed() -> None:
    assert len(asyncio.run(import_orders(batched=True))) == 10
