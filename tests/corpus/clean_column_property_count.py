"""Each author's post count through a correlated scalar subquery in the one SELECT
(``column_property``-style, written inline): 5 authors, one statement.  CLEAN."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Author, Post


def test_clean() -> None:
    posts = select(func.count(Post.id)).where(Post.author_id == Author.id).scalar_subquery()
    with Session(engine) as session:
        rows = session.execute(select(Author.name, posts.label("posts"))).all()
    assert sum(n for _, n in rows) == 20
