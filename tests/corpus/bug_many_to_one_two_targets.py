"""Comments of two posts, each printing ``comment.post.title``: the lazy many-to-one loads
each of the two posts on its own, from the loop.  Small, but the N+1 shape.  BUG: lazy-load;
``joinedload(Comment.post)``."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Comment

EXPECT = {"lazy-load"}
FIX = "select(Comment).options(joinedload(Comment.post))"


def titles(*options: object) -> set[str]:
    with Session(engine) as session:
        comments = session.scalars(
            select(Comment).where(Comment.post_id.in_([1, 2])).options(*options)
        ).all()
        return {c.post.title for c in comments}


def test_bug() -> None:
    assert titles() == {"post1", "post2"}


def test_fixed() -> None:
    assert titles(joinedload(Comment.post)) == {"post1", "post2"}
