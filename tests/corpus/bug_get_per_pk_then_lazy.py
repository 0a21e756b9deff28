"""A review screen that loads each post alone (``session.get`` per primary key) and then
its lazy ``comments``: eight SELECTs of posts by key and eight lazy loads.  ``selectinload``
alone would not help, the parents arrive one at a time; the loop itself must be batched.
BUG: repeated-statement (the gets) and lazy-load (``Post.comments``)."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load", "repeated-statement"}
FIX = "select(Post).where(Post.id.in_(pks)).options(selectinload(Post.comments))"
PKS = [3, 5, 7, 9, 11, 13, 15, 17]


def test_bug() -> None:
    with Session(engine) as session:
        counts = []
        for pk in PKS:
            post = session.get(Post, pk)
            counts.append(len(post.comments))
    assert counts == [3] * 8


def test_fixed() -> None:
    with Session(engine) as session:
        posts = session.scalars(
            select(Post).where(Post.id.in_(PKS)).options(selectinload(Post.comments))
        ).all()
        assert [len(p.comments) for p in posts] == [3] * 8
