"""Cached, unchanged objects put back into a new Session with ``merge(obj, load=False)``
(what the docs recommend for caches): no statement at all for the 10 merges; then one
query that uses them.  CLEAN."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event


def test_clean() -> None:
    with Session(engine) as session:
        cache = session.scalars(select(Event).where(Event.id <= 10)).all()
        session.expunge_all()
    with Session(engine) as session:
        merged = [session.merge(e, load=False) for e in cache]
        total = session.scalar(select(func.sum(Event.amount)).where(Event.id <= 10))
    assert total == sum(e.amount for e in merged)
