"""An ``AsyncSession`` on asyncpg that awaits ``post.awaitable_attrs.comments`` for each
post: one lazy SELECT per post (20), each awaited.  BUG: lazy-load;
``selectinload(Post.comments)`` fixes it."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from corpus_app.db import async_engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(selectinload(Post.comments))"


async def count_comments(*options: object) -> int:
    engine = async_engine("asyncpg")
    total = 0
    async with AsyncSession(engine) as session:
        for post in (await session.scalars(select(Post).options(*options))).all():
            total += len(await post.awaitable_attrs.comments)
    await engine.dispose()
    return total


def test_bug() -> None:
    assert asyncio.run(count_comments()) == 60


def test_fixed() -> None:
    assert asyncio.run(count_comments(selectinload(Post.comments))) == 60
