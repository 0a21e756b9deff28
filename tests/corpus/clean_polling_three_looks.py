"""A worker waits for a job with three looks at its state in one Session, sleeping between
them: the same SELECT with the same parameters from one line of one loop, but no new key
per run and a wait in between: polling, not an N+1.  CLEAN."""

import time

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Job


def wait_for(session: Session, state: str) -> int:
    looks = 0
    for _ in range(3):
        looks += 1
        if session.scalar(select(Job.state).where(Job.id == 1)) == state:
            break
        if looks == 2:
            with engine.begin() as worker:
                worker.execute(update(Job).values(state=state))
        time.sleep(0.01)
    return looks


def test_clean() -> None:
    with Session(engine) as session:
        assert wait_for(session, "done") == 3
