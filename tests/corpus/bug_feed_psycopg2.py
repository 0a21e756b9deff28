"""The comment-count feed on psycopg2 (the driver many older apps run): one lazy SELECT of
``Post.comments`` per post.  BUG: lazy-load, the same as on psycopg 3."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import psycopg2_engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(selectinload(Post.comments))"


def feed(*options: object) -> int:
    with Session(psycopg2_engine) as session:
        return sum(len(post.comments) for post in session.scalars(select(Post).options(*options)))


def test_bug() -> None:
    assert feed() == 60


def test_fixed() -> None:
    assert feed(selectinload(Post.comments)) == 60
