"""An async service on asyncpg awaiting ``session.get(User, i)`` for three ids in one
AsyncSession, the lookup alone in the loop's body.  Three keys, below the repeat threshold;
every run from one line reached from one caller line: one loop of the app.  BUG:
repeated-statement; one ``IN`` query fixes it."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import User

EXPECT = {"repeated-statement"}
FIX = "select(User).where(User.id.in_(ids))"
IDS = (4, 7, 8)


async def names(batched: bool) -> list[str]:
    engine = async_engine("asyncpg")
    async with AsyncSession(engine) as session:
        if batched:
            found = [u.name for u in await session.scalars(select(User).where(User.id.in_(IDS)))]
        else:
            found = [(await session.get(User, i)).name for i in IDS]
    await engine.dispose()
    return found


def test_bug() -> None:
    assert len(asyncio.run(names(batched=False))) == 3


def test_fixed() -> None:
    assert len(asyncio.run(names(batched=True))) == 3
