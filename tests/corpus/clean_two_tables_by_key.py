"""A page reading one user and one post by key (two different tables, once each).  Nothing
repeats, even for the small-repeats rule.  CLEAN."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Post, User


def test_clean() -> None:
    with Session(engine) as session:
        assert session.get(User, 1).name == "user1"
        assert session.get(Post, 1).title == "post1"
