"""A cart of three products read one by one: a loop of three ``session.get`` calls and
nothing else in its body.  Three keys of one table, what one ``IN`` query would read, and
what the opt-in small-repeats rule is for; a loop body of a lookup alone is not told apart
from a list of lookups, so it is no finding by default.  CLEAN; with small repeats on, a
repeated-statement."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT_WITH = {"small-repeats": {"repeated-statement"}}
CART = (11, 12, 13)


def test_clean() -> None:
    with Session(engine) as session:
        events = [session.get(Event, i) for i in CART]
    assert [e.id for e in events] == list(CART)
