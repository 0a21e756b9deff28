"""A ``text()`` INSERT per row on psycopg2 (12 rows), each sent on its own.  BUG:
write-loop; the same statement with the list of rows is one executemany."""

from sqlalchemy import text

from corpus_app.db import psycopg2_engine

EXPECT = {"write-loop"}
FIX = "connection.execute(INSERT, rows)"
INSERT = text("INSERT INTO events (kind, amount) VALUES (:kind, :amount)")
ROWS = [{"kind": "p2", "amount": i} for i in range(12)]


def test_bug() -> None:
    with psycopg2_engine.begin() as connection:
        for row in ROWS:
            connection.execute(INSERT, row)


def test_fixed() -> None:
    with psycopg2_engine.begin() as connection:
        connection.execute(INSERT, ROWS)
