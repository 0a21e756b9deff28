"""Newest-first keyset pages over the events through the ORM: ``WHERE id < :before ORDER BY
id DESC LIMIT 300``, seven pages, as an activity feed's "older" button does.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event


def test_clean() -> None:
    before, pages = 10**9, 0
    with Session(engine) as session:
        while page := session.scalars(
            select(Event).where(Event.id < before).order_by(Event.id.desc()).limit(300)
        ).all():
            before, pages = page[-1].id, pages + 1
    assert pages == 7
