"""A SQLModel app listing heroes with their team's name: ``Hero.team`` is a lazy
many-to-one, one SELECT per distinct team (4), through ``sqlmodel``'s Session.  BUG:
lazy-load, with its call site here, not in ``sqlmodel/orm/session.py``."""

from sqlalchemy.orm import joinedload
from sqlmodel import Session, select

from corpus_app.db import engine
from corpus_app.sqlmodels import Hero

EXPECT = {"lazy-load"}
FIX = "select(Hero).options(joinedload(Hero.team))"


def roster(*options: object) -> list[str]:
    with Session(engine) as session:
        heroes = session.exec(select(Hero).options(*options).order_by(Hero.id)).all()
        return [f"{hero.name} ({hero.team.name})" for hero in heroes]


def test_bug() -> None:
    assert len(roster()) == 12


def test_fixed() -> None:
    assert len(roster(joinedload(Hero.team))) == 12
