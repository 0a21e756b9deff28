"""Deleting events one Core statement per id (12 ids) inside one transaction.  BUG:
write-loop; one ``delete(Event).where(Event.id.in_(ids))`` fixes it."""

from sqlalchemy import delete

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"write-loop"}
FIX = "delete(Event).where(Event.id.in_(ids))"
IDS = list(range(1000, 1012))


def test_bug() -> None:
    with engine.begin() as connection:
        for event_id in IDS:
            connection.execute(delete(Event).where(Event.id == event_id))


def test_fixed() -> None:
    with engine.begin() as connection:
        connection.execute(delete(Event).where(Event.id.in_(IDS)))
