"""Each post shows its author's name: ``Post.author`` is a lazy many-to-one; the identity
map saves repeats, but each of the 5 authors is still one SELECT of its own.  BUG:
lazy-load; ``joinedload`` fixes it."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(joinedload(Post.author))"


def bylines(*options: object) -> list[str]:
    with Session(engine) as session:
        return [
            f"{post.title} by {post.author.name}"
            for post in session.scalars(select(Post).options(*options))
        ]


def test_bug() -> None:
    assert len(bylines()) == 20


def test_fixed() -> None:
    assert len(bylines(joinedload(Post.author))) == 20
