"""A post loaded with its comments (``selectinload``), then each comment's ``post``: the
many-to-one points at an object already in the identity map, so no statement is sent for
it.  Two statements.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Post


def test_clean() -> None:
    with Session(engine) as session:
        posts = session.scalars(select(Post).options(selectinload(Post.comments))).all()
        assert all(c.post is p for p in posts for c in p.comments)
