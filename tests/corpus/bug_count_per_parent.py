"""Comment counts computed with one ``COUNT(*)`` query per post (20).  BUG:
repeated-statement; one grouped query (``GROUP BY post_id``) fixes it."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Comment, Post

EXPECT = {"repeated-statement"}
FIX = "select(Comment.post_id, func.count()).group_by(Comment.post_id)"


def test_bug() -> None:
    with Session(engine) as session:
        counts = {
            p.id: session.scalar(select(func.count()).where(Comment.post_id == p.id))
            for p in session.scalars(select(Post))
        }
    assert sum(counts.values()) == 60


def test_fixed() -> None:
    with Session(engine) as session:
        counts = dict(
            session.execute(select(Comment.post_id, func.count()).group_by(Comment.post_id)).all()
        )
    assert sum(counts.values()) == 60
