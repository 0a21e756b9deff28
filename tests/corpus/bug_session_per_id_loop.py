"""A helper that opens a new Session for every id it is given (a "unit of work per item"
anti-pattern): ten Sessions, each running the same SELECT by key once, all from one loop
in one frame.  BUG: repeated-statement, although no single Session repeats it."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "select(Event).where(Event.id.in_(ids))"
IDS = list(range(100, 110))


def test_bug() -> None:
    amounts = []
    for event_id in IDS:
        with Session(engine) as session:
            amounts.append(session.get(Event, event_id).amount)
    assert len(amounts) == 10


def test_fixed() -> None:
    with Session(engine) as session:
        amounts = [e.amount for e in session.scalars(select(Event).where(Event.id.in_(IDS)))]
    assert len(amounts) == 10
