"""In one Session, each of the four boards (``cards`` mapped ``lazy="selectin"``) is renamed,
committed and refreshed, as an edit form's handler does: each refresh reloads that board's
cards by the mapping.  Refresh after write, one object each time.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Board


def rename(session: Session, board: Board, name: str) -> Board:
    board.name = name
    session.commit()
    session.refresh(board)
    return board


def test_clean() -> None:
    with Session(engine) as session:
        board = session.scalars(select(Board).where(Board.id == 1)).one()
        rename(session, board, "renamed")
        rename(session, board, "renamed again")
        assert len(board.cards) == 3
