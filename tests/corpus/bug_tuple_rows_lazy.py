"""Rows of ``select(Post, Author).join(Post.author)`` (tuples), then each row's
``row.Post.comments``: the authors came in the join, the comments lazy-load per post (20).
BUG: lazy-load; ``selectinload(Post.comments)`` on the same statement."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Author, Post

EXPECT = {"lazy-load"}
FIX = "select(Post, Author).options(selectinload(Post.comments))"


def rows(*options: object) -> int:
    with Session(engine) as session:
        found = session.execute(select(Post, Author).join(Post.author).options(*options)).all()
        return sum(len(row.Post.comments) for row in found if row.Author.name)


def test_bug() -> None:
    assert rows() == 60


def test_fixed() -> None:
    assert rows(selectinload(Post.comments)) == 60
