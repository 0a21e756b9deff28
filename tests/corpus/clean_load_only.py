"""A title index with ``load_only(Post.title)``: only the title is read, nothing else is
loaded later.  One statement.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from corpus_app.db import engine
from corpus_app.models import Post


def test_clean() -> None:
    with Session(engine) as session:
        titles = [p.title for p in session.scalars(select(Post).options(load_only(Post.title)))]
    assert len(titles) == 20
