"""Hand-built SQL with f-strings (each id inlined as a literal), one statement per id: eight
statements of one shape with different literals.  BUG: repeated-statement; one statement
with ``= ANY(:ids)`` fixes it."""

from sqlalchemy import text

from corpus_app.db import engine

EXPECT = {"repeated-statement"}
FIX = 'text("SELECT id, title FROM posts WHERE id = ANY(:ids)")'
IDS = [2, 4, 6, 8, 10, 12, 14, 16]


def test_bug() -> None:
    with engine.connect() as connection:
        titles = [
            connection.execute(text(f"SELECT id, title FROM posts WHERE id = {i}")).one()
            for i in IDS
        ]
    assert len(titles) == 8


def test_fixed() -> None:
    with engine.connect() as connection:
        titles = connection.execute(
            text("SELECT id, title FROM posts WHERE id = ANY(:ids)"), {"ids": IDS}
        ).all()
    assert len(titles) == 8
