"""The comments of one post, each printing ``comment.post.title``: the many-to-one loads the
post once, the other comments find it in the identity map.  One lazy load for one parent
object.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Comment


def test_clean() -> None:
    with Session(engine) as session:
        comments = session.scalars(select(Comment).where(Comment.post_id == 1)).all()
        assert {c.post.title for c in comments} == {"post1"}
