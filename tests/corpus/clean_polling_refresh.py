"""Waiting for a job by refreshing the one ORM object (``session.refresh(job)``) until a
worker marks it done: the same SELECT by key for one object, seven times.  Polling, not a
column reload of many objects.  CLEAN."""

from sqlalchemy import update
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Job


def test_clean() -> None:
    with Session(engine) as session:
        job = session.get(Job, 1)
        looks = 0
        while job.state != "done":
            session.commit()  # a new snapshot for the next look
            looks += 1
            if looks == 6:
                with engine.begin() as worker:
                    worker.execute(update(Job).values(state="done"))
            session.refresh(job)
    assert looks == 6
