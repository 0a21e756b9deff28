"""A SQLModel service that fetches heroes one by one (``session.get`` per id, 12 ids): the
same SELECT by key twelve times in one Session.  BUG: repeated-statement, call site in this
module (SQLModel's Session frames are a library's)."""

from sqlmodel import Session, col, select

from corpus_app.db import engine
from corpus_app.sqlmodels import Hero

EXPECT = {"repeated-statement"}
FIX = "select(Hero).where(col(Hero.id).in_(ids))"
IDS = list(range(1, 13))


def test_bug() -> None:
    with Session(engine) as session:
        powers = [session.get(Hero, i).power for i in IDS]
    assert sum(powers) == 78


def test_fixed() -> None:
    with Session(engine) as session:
        heroes = session.exec(select(Hero).where(col(Hero.id).in_(IDS))).all()
    assert sum(h.power for h in heroes) == 78
