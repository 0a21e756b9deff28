"""An ``AsyncSession`` on psycopg's async driver loading posts with
``selectinload(Post.comments)`` and ``joinedload(Post.author)``, then reading them without
awaiting anything more.  Two statements.  CLEAN."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from corpus_app.db import async_engine
from corpus_app.models import Post


async def main() -> int:
    engine = async_engine("psycopg_async")
    async with AsyncSession(engine) as session:
        posts = (
            await session.scalars(
                select(Post).options(selectinload(Post.comments), joinedload(Post.author))
            )
        ).all()
        total = sum(len(p.comments) for p in posts if p.author.name)
    await engine.dispose()
    return total


def test_clean() -> None:
    assert asyncio.run(main()) == 60
