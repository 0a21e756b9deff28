"""A feed that counts each post's comments in the loop: ``Post.comments`` is lazy, so one
SELECT per post (20) in one Session.  BUG: lazy-load; ``selectinload`` fixes it."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(selectinload(Post.comments))"


def feed(*options: object) -> list[tuple[str, int]]:
    with Session(engine) as session:
        posts = session.scalars(select(Post).options(*options)).all()
        return [(post.title, len(post.comments)) for post in posts]


def test_bug() -> None:
    assert len(feed()) == 20


def test_fixed() -> None:
    assert len(feed(selectinload(Post.comments))) == 20
