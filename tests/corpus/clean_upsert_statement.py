"""One ``INSERT ... ON CONFLICT DO UPDATE`` for all counters at once (a multi-row VALUES
upsert): one statement.  CLEAN (also with the write-loop rule on)."""

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Counter


def test_clean() -> None:
    statement = insert(Counter).values([{"key": f"k{i}", "hits": 1} for i in range(1, 9)])
    statement = statement.on_conflict_do_update(
        index_elements=[Counter.key], set_={"hits": Counter.hits + statement.excluded.hits}
    )
    with Session(engine) as session:
        session.execute(statement)
        session.commit()
