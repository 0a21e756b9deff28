"""Core code that checks out a connection per id (``with engine.connect()`` inside the loop),
one SELECT each, ten ids: no single connection checkout repeats the statement, the loop
does.  BUG: repeated-statement."""

from sqlalchemy import select

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "select(Event.kind).where(Event.id.in_(ids))"
IDS = list(range(1500, 1510))


def test_bug() -> None:
    kinds = []
    for event_id in IDS:
        with engine.connect() as connection:
            kinds.append(connection.scalar(select(Event.kind).where(Event.id == event_id)))
    assert len(kinds) == 10


def test_fixed() -> None:
    with engine.connect() as connection:
        kinds = connection.scalars(select(Event.kind).where(Event.id.in_(IDS))).all()
    assert len(kinds) == 10
