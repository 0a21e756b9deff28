"""Raw ``text()`` on an asyncpg AsyncConnection, one statement per id (10): asyncpg
prepares it once and runs it ten times.  BUG: repeated-statement; ``= ANY(:ids)``."""

import asyncio

from sqlalchemy import text

from corpus_app.db import async_engine

EXPECT = {"repeated-statement"}
FIX = 'text("SELECT amount FROM events WHERE id = ANY(:ids)")'
IDS = list(range(900, 910))


async def amounts(batched: bool) -> list[int]:
    engine = async_engine("asyncpg")
    async with engine.connect() as connection:
        if batched:
            found = list(
                (
                    await connection.execute(
                        text("SELECT amount FROM events WHERE id = ANY(:ids)"), {"ids": IDS}
                    )
                ).scalars()
            )
        else:
            found = [
                (
                    await connection.execute(
                        text("SELECT amount FROM events WHERE id = :id"), {"id": i}
                    )
                ).scalar_one()
                for i in IDS
            ]
    await engine.dispose()
    return found


def test_bug() -> None:
    assert len(asyncio.run(amounts(batched=False))) == 10


def test_fixed() -> None:
    assert len(asyncio.run(amounts(batched=True))) == 10
