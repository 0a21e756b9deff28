"""After adding a card to a board, the handler refreshes only that board's ``cards``
(``session.refresh(board, ["cards"])``): one reload for the one object written.  CLEAN."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Board, Card


def test_clean() -> None:
    with Session(engine) as session:
        board = session.get(Board, 2)
        session.add(Card(board_id=board.id, title="new"))
        session.commit()
        session.refresh(board, ["cards"])
        assert len(board.cards) == 4
