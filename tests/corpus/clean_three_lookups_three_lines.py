"""A checkout page reads its three products by key on three lines of its own (``a =
session.get(...)``, ``b = ...``, ``c = ...``): a list of lookups written out, not a loop.
Each run reaches the statement from a different line.  CLEAN; with small repeats on (2-4
lookups of one table by key in one unit of work), a repeated-statement."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT_WITH = {"small-repeats": {"repeated-statement"}}


def checkout(session: Session) -> list[int]:
    shipping = session.get(Event, 21)
    payment = session.get(Event, 22)
    summary = session.get(Event, 23)
    return [shipping.id, payment.id, summary.id]


def test_clean() -> None:
    with Session(engine) as session:
        assert checkout(session) == [21, 22, 23]
