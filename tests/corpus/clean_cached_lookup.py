"""A settings lookup memoised with ``functools.cache``, called 12 times: one statement,
the rest served by the cache.  CLEAN."""

from functools import cache

from sqlalchemy import select

from corpus_app.db import engine
from corpus_app.models import Tag


@cache
def tag_id(name: str) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(Tag.id).where(Tag.name == name))


def test_clean() -> None:
    tag_id.cache_clear()
    assert [tag_id("sql") for _ in range(12)] == [2] * 12
