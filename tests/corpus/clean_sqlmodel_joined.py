"""SQLModel heroes joined with their team in one statement (``select(Hero, Team).join``),
read as tuples.  One statement.  CLEAN."""

from sqlmodel import Session, select

from corpus_app.db import engine
from corpus_app.sqlmodels import Hero, Team


def test_clean() -> None:
    with Session(engine) as session:
        pairs = session.exec(select(Hero, Team).join(Team)).all()
    assert len({team.name for _, team in pairs}) == 4
