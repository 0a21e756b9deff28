"""The feed on psycopg2 with its loaders (``joinedload`` author, ``selectinload``
comments): two statements.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from corpus_app.db import psycopg2_engine
from corpus_app.models import Post


def test_clean() -> None:
    with Session(psycopg2_engine) as session:
        rows = [
            (p.author.name, len(p.comments))
            for p in session.scalars(
                select(Post).options(joinedload(Post.author), selectinload(Post.comments))
            )
        ]
    assert len(rows) == 20
