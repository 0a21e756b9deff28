"""Core inserts in a loop, one ``insert(Event).values(...)`` per row (15 rows).  BUG:
write-loop; ``connection.execute(insert(Event), rows)`` is one executemany."""

from sqlalchemy import insert

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"write-loop"}
FIX = "connection.execute(insert(Event), rows)"
ROWS = [{"kind": "loop", "amount": i} for i in range(15)]


def test_bug() -> None:
    with engine.begin() as connection:
        for row in ROWS:
            connection.execute(insert(Event).values(**row))


def test_fixed() -> None:
    with engine.begin() as connection:
        connection.execute(insert(Event), ROWS)
