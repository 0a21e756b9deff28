"""Three ``IN`` chunks of 400 events in a short loop: one statement per iteration from one
line with new keys each time, but each run reads a chunk of keys, not one.  Already batched.
CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

CHUNK = 400


def events(session: Session, ids: list[int]) -> list[Event]:
    found: list[Event] = []
    for start in range(0, len(ids), CHUNK):
        found += session.scalars(select(Event).where(Event.id.in_(ids[start : start + CHUNK])))
    return found


def test_clean() -> None:
    with Session(engine) as session:
        assert len(events(session, list(range(1, 1201)))) == 1200
