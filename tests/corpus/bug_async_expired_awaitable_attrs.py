"""An async handler on asyncpg that commits and then reads the ten orders it held through
``awaitable_attrs`` (plain attribute access would raise outside the greenlet): each expired
order reloads on its own.  BUG: column-reload (expired); ``expire_on_commit=False``."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import Order

EXPECT = {"column-reload"}
FIX = "AsyncSession(engine, expire_on_commit=False)"


async def totals(expire_on_commit: bool) -> int:
    engine = async_engine("asyncpg")
    async with AsyncSession(engine, expire_on_commit=expire_on_commit) as session:
        orders = (await session.scalars(select(Order))).all()
        await session.commit()
        total = sum([await o.awaitable_attrs.total for o in orders])
    await engine.dispose()
    return total


def test_bug() -> None:
    assert asyncio.run(totals(expire_on_commit=True)) == 550


def test_fixed() -> None:
    assert asyncio.run(totals(expire_on_commit=False)) == 550
