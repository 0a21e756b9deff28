"""A detail page: one post by key, then its deferred ``body`` (one more SELECT, for the one
object shown).  Deferring a large column for the list and loading it for one object is the
point of deferring.  CLEAN."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Post


def test_clean() -> None:
    with Session(engine) as session:
        post = session.get(Post, 7)
        assert post.body == "body 7"
