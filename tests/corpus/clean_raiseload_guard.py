"""A query guarded with ``raiseload("*")`` that names every loader it needs: the guard
proves nothing else loads.  Two statements.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session, raiseload, selectinload

from corpus_app.db import engine
from corpus_app.models import Board


def test_clean() -> None:
    with Session(engine) as session:
        boards = session.scalars(
            select(Board).options(selectinload(Board.cards), raiseload("*"))
        ).all()
        assert sum(len(b.cards) for b in boards) == 12
