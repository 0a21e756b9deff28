"""A ``text()`` UPDATE with 300 parameter sets on psycopg2: one executemany call from the
app (however the driver sends it).  CLEAN (also with the write-loop rule on)."""

from sqlalchemy import text

from corpus_app.db import psycopg2_engine


def test_clean() -> None:
    with psycopg2_engine.begin() as connection:
        connection.execute(
            text("UPDATE events SET amount = :amount WHERE id = :id"),
            [{"id": i, "amount": i % 7} for i in range(1, 301)],
        )
