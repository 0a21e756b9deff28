"""``session.get(Post, pk, options=[selectinload(Post.comments)])`` in a loop over 8 keys:
each get is one SELECT by key plus one selectin load for its one post.  The eager option is
there, the loop defeats it.  BUG: repeated-statement (the gets); one ``IN`` query with the
same option loads all eight posts and their comments in two statements."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"repeated-statement"}
FIX = "select(Post).where(Post.id.in_(pks)).options(selectinload(Post.comments))"
PKS = [2, 4, 6, 8, 10, 12, 14, 16]


def test_bug() -> None:
    with Session(engine) as session:
        posts = [session.get(Post, pk, options=[selectinload(Post.comments)]) for pk in PKS]
        assert sum(len(p.comments) for p in posts) == 24


def test_fixed() -> None:
    with Session(engine) as session:
        posts = session.scalars(
            select(Post).where(Post.id.in_(PKS)).options(selectinload(Post.comments))
        ).all()
        assert sum(len(p.comments) for p in posts) == 24
