"""A handler commits and then builds its response from the 20 posts it loaded before the
commit: ``expire_on_commit`` expired them, so each post's columns reload one object at a
time.  BUG: column-reload (expired); ``expire_on_commit=False`` fixes it."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"column-reload"}
FIX = "Session(engine, expire_on_commit=False)"


def respond(session: Session) -> list[str]:
    posts = session.scalars(select(Post)).all()
    session.commit()
    return [post.title for post in posts]


def test_bug() -> None:
    with Session(engine) as session:
        assert len(respond(session)) == 20


def test_fixed() -> None:
    with Session(engine, expire_on_commit=False) as session:
        assert len(respond(session)) == 20
