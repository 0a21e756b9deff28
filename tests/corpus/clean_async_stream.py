"""``AsyncSession.stream_scalars`` over all 2,000 events, consumed by partitions of 500: one
statement on a server-side cursor.  CLEAN."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import Event


async def main() -> int:
    engine = async_engine("asyncpg")
    total = 0
    async with AsyncSession(engine) as session:
        result = await session.stream_scalars(select(Event).execution_options(yield_per=500))
        async for partition in result.partitions():
            total += len(partition)
    await engine.dispose()
    return total


def test_clean() -> None:
    assert asyncio.run(main()) == 2000
