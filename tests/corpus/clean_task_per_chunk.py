"""``asyncio.gather`` fan-out with one task per chunk of 400 ids, each task its own
AsyncSession on asyncpg: five statements, each for 400 keys.  Already batched.  CLEAN."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import Event


async def load_chunk(engine: AsyncEngine, ids: list[int]) -> int:
    async with AsyncSession(engine) as session:
        return len((await session.scalars(select(Event).where(Event.id.in_(ids)))).all())


async def main() -> int:
    engine = async_engine("asyncpg")
    ids = list(range(1, 2001))
    counts = await asyncio.gather(
        *(load_chunk(engine, ids[i : i + 400]) for i in range(0, 2000, 400))
    )
    await engine.dispose()
    return sum(counts)


def test_clean() -> None:
    assert asyncio.run(main()) == 2000
