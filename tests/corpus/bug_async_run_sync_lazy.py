"""``AsyncSession.run_sync`` running a sync helper written for the sync ORM: inside it each
order's lazy ``items`` load one by one (10), in the greenlet.  BUG: lazy-load, call site
the helper's loop here."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import async_engine
from corpus_app.models import Order

EXPECT = {"lazy-load"}
FIX = "select(Order).options(selectinload(Order.items))"


def units(session: Session, *options: object) -> int:
    orders = session.scalars(select(Order).options(*options)).all()
    return sum(item.quantity for order in orders for item in order.items)


async def main(*options: object) -> int:
    engine = async_engine("asyncpg")
    async with AsyncSession(engine) as session:
        total = await session.run_sync(units, *options)
    await engine.dispose()
    return total


def test_bug() -> None:
    assert asyncio.run(main()) == 60


def test_fixed() -> None:
    assert asyncio.run(main(selectinload(Order.items))) == 60
