"""Hit counters upserted one row at a time (``INSERT ... ON CONFLICT DO UPDATE`` per key, 8
keys).  BUG: write-loop; the fix keeps the upsert: the same statement with all the rows as
one executemany."""

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Counter

EXPECT = {"write-loop"}
FIX = "session.execute(upsert, rows)"
ROWS = [{"key": f"k{i}", "hits": 1} for i in range(1, 9)]


def upsert_statement():  # type: ignore[no-untyped-def]
    statement = insert(Counter)
    return statement.on_conflict_do_update(
        index_elements=[Counter.key], set_={"hits": Counter.hits + statement.excluded.hits}
    )


def test_bug() -> None:
    with Session(engine) as session:
        for row in ROWS:
            session.execute(upsert_statement().values(**row))
        session.commit()


def test_fixed() -> None:
    with Session(engine) as session:
        upsert = upsert_statement()
        session.execute(upsert, ROWS)
        session.commit()
