"""A Starlette async app on asyncpg (engine opened in the lifespan, an AsyncSession per
request): seven requests, each reading the caller by token and one post by key.  Each
statement once per request.  CLEAN."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from corpus_app.db import async_engine
from corpus_app.models import Post, User

# counted over the whole test (dalperf_repeat_scope = test), the requests' repeats add up
EXPECT_WITH = {"repeat-scope-test": {"repeated-statement"}}


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.engine = async_engine("asyncpg")
    yield
    await app.state.engine.dispose()


async def post_detail(request: Request) -> JSONResponse:
    async with AsyncSession(request.app.state.engine) as session:
        user = await session.scalar(
            select(User).where(User.token == request.headers["authorization"])
        )
        post = await session.get(Post, int(request.path_params["post_id"]))
        return JSONResponse({"title": post.title, "reader": user.name})


app = Starlette(routes=[Route("/posts/{post_id}", post_detail)], lifespan=lifespan)


def test_clean() -> None:
    with TestClient(app) as client:
        for i in range(1, 8):
            response = client.get(f"/posts/{i}", headers={"authorization": f"token{i}"})
            assert response.status_code == 200
