"""The feed done right: authors joined, comments and tags loaded by ``selectinload``, three
statements for 20 posts.  CLEAN: the eager loaders' own statements never count."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from corpus_app.db import engine
from corpus_app.models import Post


def test_clean() -> None:
    query = select(Post).options(
        joinedload(Post.author), selectinload(Post.comments), selectinload(Post.tags)
    )
    with Session(engine) as session:
        rows = [(p.author.name, len(p.comments), len(p.tags)) for p in session.scalars(query)]
    assert len(rows) == 20
