"""An RSS feed printing each post's ``body``, a deferred column: one SELECT of the body per
post, 20 of them.  BUG: column-reload (deferred); ``undefer(Post.body)`` fixes it."""

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"column-reload"}
FIX = "select(Post).options(undefer(Post.body))"


def rss(*options: object) -> int:
    with Session(engine) as session:
        return sum(len(post.body) for post in session.scalars(select(Post).options(*options)))


def test_bug() -> None:
    assert rss() > 0


def test_fixed() -> None:
    assert rss(undefer(Post.body)) > 0
