"""A DataLoader whose batch function was written as a loop over the keys, one query per
key: the batching collects 20 keys and then sends 20 statements.  BUG: repeated-statement,
call site the batch function's loop; one ``IN`` query per batch fixes it."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import Comment

EXPECT = {"repeated-statement"}
FIX = (
    "select(Comment.post_id, func.count()).where(Comment.post_id.in_(keys))"
    ".group_by(Comment.post_id)"
)


async def load_all(
    keys: Sequence[int], batch: Callable[[AsyncSession, Sequence[int]], Awaitable[list[int]]]
) -> int:
    engine = async_engine("asyncpg")
    async with AsyncSession(engine) as session:
        counts = await batch(session, keys)
    await engine.dispose()
    return sum(counts)


async def per_key(session: AsyncSession, keys: Sequence[int]) -> list[int]:
    return [
        await session.scalar(select(func.count()).where(Comment.post_id == key)) for key in keys
    ]


async def one_query(session: AsyncSession, keys: Sequence[int]) -> list[int]:
    rows = dict(
        (
            await session.execute(
                select(Comment.post_id, func.count())
                .where(Comment.post_id.in_(keys))
                .group_by(Comment.post_id)
            )
        ).all()
    )
    return [rows.get(key, 0) for key in keys]


def test_bug() -> None:
    assert asyncio.run(load_all(range(1, 21), per_key)) == 60


def test_fixed() -> None:
    assert asyncio.run(load_all(range(1, 21), one_query)) == 60
