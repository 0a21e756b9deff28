"""A dashboard that gathers four different queries concurrently (counts of posts, comments,
users, and the newest events), each task its own AsyncSession on psycopg's async driver.
Four different statements, once each.  CLEAN."""

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import Comment, Event, Post, User


async def scalar(engine: AsyncEngine, statement: object) -> object:
    async with AsyncSession(engine) as session:
        return await session.scalar(statement)


async def dashboard() -> list[object]:
    engine = async_engine("psycopg_async")
    values = await asyncio.gather(
        scalar(engine, select(func.count()).select_from(Post)),
        scalar(engine, select(func.count()).select_from(Comment)),
        scalar(engine, select(func.count()).select_from(User)),
        scalar(engine, select(func.max(Event.id))),
    )
    await engine.dispose()
    return list(values)


def test_clean() -> None:
    assert asyncio.run(dashboard()) == [20, 60, 10, 2000]
