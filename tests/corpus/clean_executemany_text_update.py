"""A ``text()`` UPDATE run with a list of 20 parameter sets: one executemany.  CLEAN (also
with the write-loop rule on)."""

from sqlalchemy import text

from corpus_app.db import engine


def test_clean() -> None:
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE posts SET views = :views WHERE id = :id"),
            [{"id": i, "views": i * 2} for i in range(1, 21)],
        )
