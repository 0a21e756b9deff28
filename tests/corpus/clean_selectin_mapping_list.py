"""Listing boards whose ``cards`` are mapped ``lazy="selectin"``: the mapping loads every
board's cards in one extra statement.  Two statements.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Board


def test_clean() -> None:
    with Session(engine) as session:
        assert sum(len(b.cards) for b in session.scalars(select(Board))) == 12
