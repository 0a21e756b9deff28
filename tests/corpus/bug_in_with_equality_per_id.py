"""A filter with a constant ``IN`` list (the event kinds) plus an equality on the id, run
once per id (10): the ``IN`` never changes, the id does.  A loop by id, not a chunked
batch.  BUG: repeated-statement."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "select(Event).where(Event.kind.in_(kinds), Event.id.in_(ids))"
IDS = list(range(30, 40))
KINDS = ["view", "click"]


def test_bug() -> None:
    with Session(engine) as session:
        found = [
            session.scalars(select(Event).where(Event.kind.in_(KINDS), Event.id == i)).first()
            for i in IDS
        ]
    assert len([e for e in found if e]) == 7


def test_fixed() -> None:
    with Session(engine) as session:
        found = session.scalars(select(Event).where(Event.kind.in_(KINDS), Event.id.in_(IDS))).all()
    assert len(found) == 7
