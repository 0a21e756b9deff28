"""The chunked ``IN`` export on psycopg2 (which inlines parameters client-side): 1,500 ids
in chunks of 500, three statements of 500 keys.  Already batched.  CLEAN."""

from sqlalchemy import select

from corpus_app.db import psycopg2_engine
from corpus_app.models import Event


def test_clean() -> None:
    ids = list(range(1, 1501))
    with psycopg2_engine.connect() as connection:
        rows = [
            row
            for start in range(0, 1500, 500)
            for row in connection.execute(
                select(Event.id).where(Event.id.in_(ids[start : start + 500]))
            )
        ]
    assert len(rows) == 1500
