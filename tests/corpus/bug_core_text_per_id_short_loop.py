"""Core on one connection: a report helper sends ``SELECT title FROM posts WHERE id = :id``
once per id for three ids in a ``for`` loop, the lookup alone in its body, from one line.
BUG: repeated-statement; one statement with ``= ANY(:values)``."""

from sqlalchemy import Connection, text

from corpus_app.db import engine

EXPECT = {"repeated-statement"}
FIX = 'connection.execute(text("SELECT posts.title FROM posts WHERE posts.id = ANY(:values)"), {"values": values})'
IDS = (2, 4, 6)


def titles(connection: Connection, ids: tuple[int, ...]) -> list[str]:
    found = []
    for pk in ids:
        found.append(
            connection.execute(
                text("SELECT posts.title FROM posts WHERE posts.id = :id"), {"id": pk}
            ).scalar_one()
        )
    return found


def titles_batched(connection: Connection, ids: tuple[int, ...]) -> list[str]:
    rows = connection.execute(
        text("SELECT posts.title FROM posts WHERE posts.id = ANY(:values)"), {"values": list(ids)}
    )
    return [row.title for row in rows]


def test_bug() -> None:
    with engine.connect() as connection:
        assert len(titles(connection, IDS)) == 3


def test_fixed() -> None:
    with engine.connect() as connection:
        assert len(titles_batched(connection, IDS)) == 3
