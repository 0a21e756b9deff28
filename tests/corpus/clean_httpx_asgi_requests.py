"""An async test driving a FastAPI app through ``httpx.AsyncClient(transport=ASGITransport)``
(no TestClient): six requests, each with its own AsyncSession on asyncpg, each reading one
post by key.  CLEAN."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import Post

# counted over the whole test (dalperf_repeat_scope = test), the requests' repeats add up
EXPECT_WITH = {"repeat-scope-test": {"repeated-statement"}}

app = FastAPI()
engines: list[AsyncEngine] = []


async def get_session() -> AsyncIterator[AsyncSession]:
    async with AsyncSession(engines[0]) as session:
        yield session


@app.get("/posts/{post_id}")
async def read_post(
    post_id: int, session: Annotated[AsyncSession, Depends(get_session)]
) -> dict[str, str]:
    return {"title": (await session.get(Post, post_id)).title}


async def main() -> list[int]:
    engines[:] = [async_engine("asyncpg")]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        codes = [(await client.get(f"/posts/{i}")).status_code for i in range(1, 7)]
    await engines[0].dispose()
    return codes


def test_clean() -> None:
    assert asyncio.run(main()) == [200] * 6
