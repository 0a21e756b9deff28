"""An async service on psycopg's async driver awaiting ``session.get(User, i)`` for ten ids
in one AsyncSession.  BUG: repeated-statement; one ``IN`` query fixes it."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import User

EXPECT = {"repeated-statement"}
FIX = "select(User).where(User.id.in_(ids))"
IDS = list(range(1, 11))


async def names(batched: bool) -> list[str]:
    engine = async_engine("psycopg_async")
    async with AsyncSession(engine) as session:
        if batched:
            found = [u.name for u in await session.scalars(select(User).where(User.id.in_(IDS)))]
        else:
            found = [(await session.get(User, i)).name for i in IDS]
    await engine.dispose()
    return found


def test_bug() -> None:
    assert len(asyncio.run(names(batched=False))) == 10


def test_fixed() -> None:
    assert len(asyncio.run(names(batched=True))) == 10
