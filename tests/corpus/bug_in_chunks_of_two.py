"""A "batched" loader configured with a chunk size of 2: 20 keys in ten ``IN`` lists of two.
No parameter limit asks for chunks that small; it is a loop over the keys at half the
cost.  BUG: repeated-statement; one ``IN`` for all 20 keys."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "select(Event).where(Event.id.in_(ids))"
IDS = list(range(800, 820))


def load(chunk_size: int) -> int:
    with Session(engine) as session:
        return sum(
            len(session.scalars(select(Event).where(Event.id.in_(IDS[i : i + chunk_size]))).all())
            for i in range(0, len(IDS), chunk_size)
        )


def test_bug() -> None:
    assert load(2) == 20


def test_fixed() -> None:
    assert load(len(IDS)) == 20
