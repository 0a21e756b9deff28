"""1,200 ids fetched in ``IN`` chunks of 200 (a driver's parameter limit is the usual
reason): six runs of one SELECT, each for 200 keys.  Already batched.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

CHUNK = 200


def test_clean() -> None:
    ids = list(range(1, 1201))
    found = []
    with Session(engine) as session:
        for start in range(0, len(ids), CHUNK):
            found += session.scalars(
                select(Event).where(Event.id.in_(ids[start : start + CHUNK]))
            ).all()
    assert len(found) == 1200
