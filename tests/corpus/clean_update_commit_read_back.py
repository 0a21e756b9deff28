"""A test updates three events one at a time, commits each, and reads each back to check
it: per row an UPDATE, a COMMIT and a SELECT by key.  The same pair of statements for three
keys, but each read is in a transaction of its own, after its own write: a check after
each write, not a loop of reads.  CLEAN."""

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

# the small-repeats rule reports 2-4 lookups by key in one unit of work, loop or not
EXPECT_WITH = {"small-repeats": {"repeated-statement"}}


def test_clean() -> None:
    with Session(engine) as session:
        for i in (21, 22, 23):
            session.execute(update(Event).where(Event.id == i).values(amount=i * 10))
            session.commit()
            amount = session.scalar(select(Event.amount).where(Event.id == i))
            assert amount == i * 10
