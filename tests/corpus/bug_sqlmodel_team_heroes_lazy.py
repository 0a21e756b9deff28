"""A SQLModel team page listing each team's heroes: ``Team.heroes`` is a lazy collection, one
SELECT per team (4).  BUG: lazy-load; ``selectinload(Team.heroes)`` fixes it."""

from sqlalchemy.orm import selectinload
from sqlmodel import Session, select

from corpus_app.db import engine
from corpus_app.sqlmodels import Team

EXPECT = {"lazy-load"}
FIX = "select(Team).options(selectinload(Team.heroes))"


def teams(*options: object) -> dict[str, int]:
    with Session(engine) as session:
        return {t.name: len(t.heroes) for t in session.exec(select(Team).options(*options))}


def test_bug() -> None:
    assert sum(teams().values()) == 12


def test_fixed() -> None:
    assert sum(teams(selectinload(Team.heroes)).values()) == 12
