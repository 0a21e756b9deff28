"""Boards map their cards ``lazy="selectin"``.  Three requests each create a board with two
cards, commit and refresh it; SQLAlchemy then loads that one board's cards itself (the
mapping's selectin load, for one object).  Not the app's lazy load: the mapping is
already the fix.  CLEAN."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Board, Card

app = FastAPI()


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@app.post("/boards")
def create_board(name: str, session: Annotated[Session, Depends(get_session)]) -> dict[str, int]:
    board = Board(name=name, cards=[Card(title="todo"), Card(title="done")])
    session.add(board)
    session.commit()
    session.refresh(board)
    return {"id": board.id, "cards": len(board.cards)}


def test_clean() -> None:
    with TestClient(app) as client:
        for name in ("alpha", "beta", "gamma"):
            assert client.post("/boards", params={"name": name}).json()["cards"] == 2
