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


@pytest.fixture
def cached() -> list[Event]:
    """The objects a cache holds: loaded earlier, in set-up, and detached."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Event).where(Event.id.in_(IDS))))


def test_bug(cached: list[Event]) -> None:
    events = cached
    with Session(engine) as session:
        merged = [session.merge(e) for e in events]
    assert len(merged) == 10


def test_fixed(cached: list[Event]) -> None:
    events = cached
    with Session(engine) as session:
        # kept in a variable: the identity map holds its objects weakly
        loaded = session.scalars(select(Event).where(Event.id.in_(IDS))).all()
        merged = [session.merge(e) for e in events]
        assert {id(m) for m in merged} == {id(o) for o in loaded}
