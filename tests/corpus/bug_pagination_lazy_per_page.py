"""Keyset pages of 5 posts (the paging itself is fine), but each page's rows read their lazy
``Post.author``: inside every page the authors load one at a time.  BUG: lazy-load (the
pages' own SELECTs are not a finding); ``joinedload(Post.author)`` on the page query."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(joinedload(Post.author))"


def pages(*options: object) -> list[str]:
    lines, last = [], 0
    with Session(engine) as session:
        while page := session.scalars(
            select(Post).options(*options).where(Post.id > last).order_by(Post.id).limit(5)
        ).all():
            lines += [f"{p.title} by {p.author.name}" for p in page]
            last = page[-1].id
    return lines


def test_bug() -> None:
    assert len(pages()) == 20


def test_fixed() -> None:
    assert len(pages(joinedload(Post.author))) == 20
