"""Objects from a cache (detached) merged back into a new Session one by one:
``session.merge`` loads each one by primary key first, ten SELECTs.  BUG:
repeated-statement; loading them all with one ``IN`` query first lets ``merge`` find them
in the identity map."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "session.scalars(select(Event).where(Event.id.in_(ids))).all()"
IDS = list(range(300, 310))


def cached() -> list[Event]:
    with Session(engine, expire_on_commit=False) as session:
        events = session.scalars(select(Event).where(Event.id.in_(IDS))).all()
    for event in events:
        event.amount += 1
    return list(events)


@pytest.mark.usefixtures("writes")
def test_bug() -> None:
    events = cached()
    with Session(engine) as session:
        merged = [session.merge(e) for e in events]
        session.commit()
    assert len(merged) == 10


@pytest.mark.usefixtures("writes")
def test_fixed() -> None:
    events = cached()
    with Session(engine) as session:
        session.scalars(select(Event).where(Event.id.in_(IDS))).all()
        merged = [session.merge(e) for e in events]
        session.commit()
    assert len(merged) == 10
