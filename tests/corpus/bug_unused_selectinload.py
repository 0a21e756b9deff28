"""A title list that asks for ``selectinload(Post.comments)`` and never reads a comment: a
whole statement of rows nobody uses.  Clean for the N+1 rules; the unused-eager-load rule
reports it.  BUG (unused-eager-load only); drop the option."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT: set[str] = set()
EXPECT_WITH = {"unused-eager-load": {"unused-eager-load"}}
FIX = "select(Post)"


def titles(*options: object) -> list[str]:
    with Session(engine) as session:
        return [p.title for p in session.scalars(select(Post).options(*options))]


def test_bug() -> None:
    assert len(titles(selectinload(Post.comments))) == 20


def test_fixed() -> None:
    assert len(titles()) == 20
