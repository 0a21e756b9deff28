"""A ``wait_for`` helper polling a job's state in one Session with a short sleep between
looks (READ COMMITTED sees each new commit): the same SELECT with the same parameters six
times, waiting.  CLEAN."""

import time

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Job


def wait_for(session: Session, state: str, finish_after: int) -> int:
    looks = 0
    while session.scalar(select(Job.state).where(Job.id == 1)) != state:
        looks += 1
        if looks == finish_after:
            with engine.begin() as worker:
                worker.execute(update(Job).values(state=state))
        time.sleep(0.01)
    return looks


def test_clean() -> None:
    with Session(engine) as session:
        assert wait_for(session, "done", finish_after=5) == 5
