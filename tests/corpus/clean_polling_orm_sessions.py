"""A poller that opens a fresh Session for each look at the job (so it sees new data), as
a CLI's ``--wait`` does: eight looks with the same key, the job done on the last.  Polling,
one statement per Session.  CLEAN."""

from sqlalchemy import update
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Job


def test_clean() -> None:
    for look in range(1, 9):
        with Session(engine) as session:
            if session.get(Job, 1).state == "done":
                break
        if look == 7:
            with engine.begin() as connection:
                connection.execute(update(Job).values(state="done"))
    assert look == 8
