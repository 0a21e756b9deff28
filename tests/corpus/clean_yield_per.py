"""Streaming all 2,000 events with ``yield_per(250)`` (a server-side cursor fetching 250 rows
at a time): one statement, the fetches are not statements.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event


def test_clean() -> None:
    total = 0
    with Session(engine) as session:
        for partition in session.scalars(
            select(Event).execution_options(yield_per=250)
        ).partitions():
            total += len(partition)
    assert total == 2000
