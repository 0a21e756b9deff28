"""``session.delete(obj)`` for 12 loaded events, then one commit: the unit of work flushes
the deletes as one executemany DELETE.  A loop in Python, one statement on the wire.
CLEAN (also with the write-loop rule on)."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event


def test_clean() -> None:
    with Session(engine) as session:
        for event in session.scalars(select(Event).where(Event.id <= 12)):
            session.delete(event)
        session.commit()
