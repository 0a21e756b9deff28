"""A poller waiting for a background job: the same SELECT with the same parameters until
the state changes (a worker finishes it after the sixth look).  Seven identical statements,
which is what waiting is, not a loop over ids to batch.  CLEAN."""

from sqlalchemy import select, update

from corpus_app.db import engine
from corpus_app.models import Job


def worker_finishes() -> None:
    with engine.begin() as connection:
        connection.execute(update(Job).where(Job.id == 1).values(state="done"))


def test_clean() -> None:
    state, looks = None, 0
    with engine.connect() as connection:
        while state != "done":
            state = connection.scalar(select(Job.state).where(Job.id == 1))
            connection.commit()
            looks += 1
            if looks == 6:
                worker_finishes()
    assert looks == 7
