"""Keyset pagination over 2,000 events, oldest first: ``WHERE id > :last ORDER BY id LIMIT
250``, nine pages.  Already batched.  CLEAN."""

from sqlalchemy import select

from corpus_app.db import engine
from corpus_app.models import Event


def test_clean() -> None:
    last, seen = 0, 0
    with engine.connect() as connection:
        while True:
            ids = connection.scalars(
                select(Event.id).where(Event.id > last).order_by(Event.id).limit(250)
            ).all()
            if not ids:
                break
            seen += len(ids)
            last = ids[-1]
    assert seen == 2000
