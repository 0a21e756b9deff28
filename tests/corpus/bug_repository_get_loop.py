"""A repository class with ``get(id)``, and a service that calls it for each id in a list:
ten SELECTs by key in one Session, from the repository's method.  BUG: repeated-statement;
the repository needs a ``get_many``."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "select(Event).where(Event.id.in_(ids))"
IDS = list(range(40, 50))


class EventRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, event_id: int) -> Event | None:
        return self.session.scalars(select(Event).where(Event.id == event_id)).first()

    def get_many(self, ids: list[int]) -> list[Event]:
        return list(self.session.scalars(select(Event).where(Event.id.in_(ids))))


def test_bug() -> None:
    with Session(engine) as session:
        repository = EventRepository(session)
        assert all(repository.get(i) is not None for i in IDS)


def test_fixed() -> None:
    with Session(engine) as session:
        assert len(EventRepository(session).get_many(IDS)) == 10
