"""Keyset pagination in a short loop: the first three pages of 100 events, ``WHERE id >
:last ORDER BY id LIMIT 100``, one statement per iteration from one line with a new key each
time.  Each run reads a page, not a row: already batched.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event


def first_pages(session: Session, pages: int) -> list[int]:
    last, seen = 0, []
    for _ in range(pages):
        ids = session.scalars(
            select(Event.id).where(Event.id > last).order_by(Event.id).limit(100)
        ).all()
        seen += ids
        last = ids[-1]
    return seen


def test_clean() -> None:
    with Session(engine) as session:
        assert len(first_pages(session, 3)) == 300
