"""A tag cloud built from each post's ``tags`` (many-to-many through ``post_tags``): one
lazy SELECT joining the association table per post.  BUG: lazy-load;
``selectinload(Post.tags)`` fixes it."""

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(selectinload(Post.tags))"


def cloud(*options: object) -> Counter[str]:
    with Session(engine) as session:
        return Counter(
            tag.name
            for post in session.scalars(select(Post).options(*options))
            for tag in post.tags
        )


def test_bug() -> None:
    assert sum(cloud().values()) == 40


def test_fixed() -> None:
    assert sum(cloud(selectinload(Post.tags)).values()) == 40
