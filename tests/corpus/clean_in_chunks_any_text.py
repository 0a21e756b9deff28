"""A ``text()`` query with ``= ANY(:ids)`` run over 2,000 ids in chunks of 300 (seven
statements), each chunk an array parameter.  Already batched.  CLEAN."""

from sqlalchemy import text

from corpus_app.db import engine

QUERY = text("SELECT id, amount FROM events WHERE id = ANY(:ids)")


def test_clean() -> None:
    ids = list(range(1, 2001))
    total = 0
    with engine.connect() as connection:
        for start in range(0, len(ids), 300):
            total += len(connection.execute(QUERY, {"ids": ids[start : start + 300]}).all())
    assert total == 2000
