"""FastAPI async routes with an ``AsyncSession`` dependency on psycopg's async driver (the
engine made in the lifespan): six requests, each one SELECT by key in its own Session.
CLEAN."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import Customer

# counted over the whole test (dalperf_repeat_scope = test), the requests' repeats add up
EXPECT_WITH = {"repeat-scope-test": {"repeated-statement"}}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.engine = async_engine("psycopg_async")
    yield
    await app.state.engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(request.app.state.engine) as session:
        yield session


@app.get("/customers/{customer_id}")
async def customer(
    customer_id: int, session: Annotated[AsyncSession, Depends(get_session)]
) -> dict[str, str]:
    return {"name": (await session.get(Customer, customer_id)).name}


def test_clean() -> None:
    with TestClient(app) as client:
        for i in (1, 2, 3, 4, 5, 1):
            assert client.get(f"/customers/{i}").status_code == 200
