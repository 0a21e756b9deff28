"""A Starlette async list endpoint on asyncpg awaiting each post's lazy ``comments``
(``awaitable_attrs``) inside one request.  BUG: lazy-load, call site the endpoint here."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from corpus_app.db import async_engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(selectinload(Post.comments))"


def make_app(*options: object) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.engine = async_engine("asyncpg")
        yield
        await app.state.engine.dispose()

    async def posts(request: Request) -> JSONResponse:
        async with AsyncSession(request.app.state.engine) as session:
            found = (await session.scalars(select(Post).options(*options))).all()
            return JSONResponse({p.title: len(await p.awaitable_attrs.comments) for p in found})

    return Starlette(routes=[Route("/posts", posts)], lifespan=lifespan)


def run(app: Starlette) -> None:
    with TestClient(app) as client:
        assert len(client.get("/posts").json()) == 20


def test_bug() -> None:
    run(make_app())


def test_fixed() -> None:
    run(make_app(selectinload(Post.comments)))
