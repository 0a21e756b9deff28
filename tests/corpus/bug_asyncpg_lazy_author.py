"""Async bylines on asyncpg: ``await post.awaitable_attrs.author`` per post, one lazy SELECT
per distinct author (5).  BUG: lazy-load; ``joinedload(Post.author)`` fixes it."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from corpus_app.db import async_engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(joinedload(Post.author))"


async def bylines(*options: object) -> list[str]:
    engine = async_engine("asyncpg")
    async with AsyncSession(engine) as session:
        posts = (await session.scalars(select(Post).options(*options))).all()
        lines = [f"{p.title} by {(await p.awaitable_attrs.author).name}" for p in posts]
    await engine.dispose()
    return lines


def test_bug() -> None:
    assert len(asyncio.run(bylines())) == 20


def test_fixed() -> None:
    assert len(asyncio.run(bylines(joinedload(Post.author)))) == 20
