"""``load_only(Post.title)`` for a list, but the template also shows ``views``: each of the
20 posts loads its unloaded columns on its own.  BUG: column-reload; add the column to
``load_only`` (or drop it)."""

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"column-reload"}
FIX = "select(Post).options(load_only(Post.title, Post.views))"


def rows(*columns: object) -> list[str]:
    with Session(engine) as session:
        posts = session.scalars(select(Post).options(load_only(Post.title, *columns)))
        return [f"{p.title} ({p.views} views)" for p in posts]


def test_bug() -> None:
    assert len(rows()) == 20


def test_fixed() -> None:
    assert len(rows(Post.views)) == 20
