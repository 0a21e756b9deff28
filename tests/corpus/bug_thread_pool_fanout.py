"""A ``ThreadPoolExecutor`` mapping a fetch over ten ids, each call its own Session and one
SELECT by key: the loop is ``pool.map`` in one function.  BUG: repeated-statement; one
``IN`` query."""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "select(Event).where(Event.id.in_(ids))"
IDS = list(range(1200, 1210))


def fetch(event_id: int) -> int:
    with Session(engine) as session:
        return session.get(Event, event_id).amount


def test_bug() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert len(list(pool.map(fetch, IDS))) == 10


def test_fixed() -> None:
    with Session(engine) as session:
        assert len(session.scalars(select(Event).where(Event.id.in_(IDS))).all()) == 10
