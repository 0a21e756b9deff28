"""Purging old events with one ``DELETE ... WHERE id IN (...)`` of 500 ids, and another by a
range.  Two statements.  CLEAN."""

from sqlalchemy import delete

from corpus_app.db import engine
from corpus_app.models import Event


def test_clean() -> None:
    with engine.begin() as connection:
        gone = connection.execute(delete(Event).where(Event.id.in_(range(1, 501)))).rowcount
        gone += connection.execute(delete(Event).where(Event.id > 1900)).rowcount
    assert gone == 600
