"""A "chunked" loader whose chunk size is configured to 1: ``IN`` lists of one key, ten
statements for ten ids.  Chunking in name only: a loop by id.  BUG: repeated-statement."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "select(Event).where(Event.id.in_(ids))"
IDS = list(range(700, 710))


def load(chunk_size: int) -> int:
    found = 0
    with Session(engine) as session:
        for start in range(0, len(IDS), chunk_size):
            found += len(
                session.scalars(
                    select(Event).where(Event.id.in_(IDS[start : start + chunk_size]))
                ).all()
            )
    return found


def test_bug() -> None:
    assert load(1) == 10


def test_fixed() -> None:
    assert load(len(IDS)) == 10
