"""Sorting posts by author name with ``sorted(key=lambda p: p.author.name)``: the lazy
many-to-one loads inside the sort key, once per distinct author.  BUG: lazy-load, call site
the lambda here."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(joinedload(Post.author))"


def by_author(*options: object) -> list[str]:
    with Session(engine) as session:
        posts = session.scalars(select(Post).options(*options)).all()
        return [p.title for p in sorted(posts, key=lambda p: p.author.name)]


def test_bug() -> None:
    assert len(by_author()) == 20


def test_fixed() -> None:
    assert len(by_author(joinedload(Post.author))) == 20
