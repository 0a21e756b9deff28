"""``asyncio.gather`` fan-out with one task per id (ten ids), each task its own
AsyncSession on asyncpg running the same SELECT by key: concurrent, but still ten
statements where one would do.  BUG: repeated-statement."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "select(Event).where(Event.id.in_(ids))"
IDS = list(range(500, 510))


async def fetch_one(engine: AsyncEngine, event_id: int) -> int:
    async with AsyncSession(engine) as session:
        return (await session.get(Event, event_id)).amount


async def fan_out() -> list[int]:
    engine = async_engine("asyncpg")
    amounts = await asyncio.gather(*(fetch_one(engine, i) for i in IDS))
    await engine.dispose()
    return list(amounts)


async def batched() -> list[int]:
    engine = async_engine("asyncpg")
    async with AsyncSession(engine) as session:
        amounts = [e.amount for e in await session.scalars(select(Event).where(Event.id.in_(IDS)))]
    await engine.dispose()
    return amounts


def test_bug() -> None:
    assert len(asyncio.run(fan_out())) == 10


def test_fixed() -> None:
    assert len(asyncio.run(batched())) == 10
