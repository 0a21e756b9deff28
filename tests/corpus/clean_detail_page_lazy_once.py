"""A detail page: one post by key, then its lazy ``author`` and ``comments`` and ``tags``,
each loaded once for the one object shown.  Lazy loading for one parent is not an N+1.
CLEAN."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Post


def test_clean() -> None:
    with Session(engine) as session:
        post = session.get(Post, 4)
        assert (post.author.name, len(post.comments), len(post.tags)) == ("author4", 3, 2)
