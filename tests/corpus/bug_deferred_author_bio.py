"""An author directory printing each author's ``bio``, mapped ``deferred()``: one SELECT
of the bio per author, 5 authors.  BUG: column-reload (deferred);
``undefer(Author.bio)`` fixes it."""

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from corpus_app.db import engine
from corpus_app.models import Author

EXPECT = {"column-reload"}
FIX = "select(Author).options(undefer(Author.bio))"


def directory(*options: object) -> list[str]:
    with Session(engine) as session:
        return [f"{a.name}: {a.bio}" for a in session.scalars(select(Author).options(*options))]


def test_bug() -> None:
    assert len(directory()) == 5


def test_fixed() -> None:
    assert len(directory(undefer(Author.bio))) == 5
