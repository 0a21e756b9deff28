"""Posts joined to their authors in the query and populated with ``contains_eager``, then
filtered on the author: one statement, no lazy load.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from corpus_app.db import engine
from corpus_app.models import Author, Post


def test_clean() -> None:
    query = (
        select(Post)
        .join(Post.author)
        .where(Author.name != "nobody")
        .options(contains_eager(Post.author))
    )
    with Session(engine) as session:
        names = {p.author.name for p in session.scalars(query)}
    assert len(names) == 5
