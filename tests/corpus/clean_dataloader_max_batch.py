"""A GraphQL-style resolver layer with a DataLoader (``max_batch_size=5``): 20 posts ask for
their comments, the loader sends one ``IN`` query per batch of 5 keys (four statements).
Already batched: that is what DataLoaders are for.  CLEAN."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corpus_app.db import async_engine
from corpus_app.models import Comment, Post


class DataLoader:
    """Collect the keys asked for in one tick, load them in batches of ``max_batch_size``."""

    def __init__(
        self, batch: Callable[[Sequence[int]], Awaitable[dict[int, Any]]], max_batch_size: int
    ) -> None:
        self.batch, self.max_batch_size = batch, max_batch_size
        self.pending: dict[int, asyncio.Future[Any]] = {}

    def load(self, key: int) -> asyncio.Future[Any]:
        if not self.pending:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.dispatch()))
        return self.pending.setdefault(key, asyncio.get_running_loop().create_future())

    async def dispatch(self) -> None:
        pending, self.pending = self.pending, {}
        keys = list(pending)
        for start in range(0, len(keys), self.max_batch_size):
            chunk = keys[start : start + self.max_batch_size]
            values = await self.batch(chunk)
            for key in chunk:
                pending[key].set_result(values.get(key, []))


async def resolve_feed() -> int:
    engine = async_engine("asyncpg")
    async with AsyncSession(engine) as session:

        async def comments_by_post(keys: Sequence[int]) -> dict[int, list[str]]:
            rows = await session.execute(
                select(Comment.post_id, Comment.text).where(Comment.post_id.in_(keys))
            )
            grouped: dict[int, list[str]] = {}
            for post_id, text in rows:
                grouped.setdefault(post_id, []).append(text)
            return grouped

        loader = DataLoader(comments_by_post, max_batch_size=5)
        posts = (await session.scalars(select(Post))).all()
        comments = await asyncio.gather(*(loader.load(p.id) for p in posts))
    await engine.dispose()
    return sum(len(c) for c in comments)


def test_clean() -> None:
    assert asyncio.run(resolve_feed()) == 60
