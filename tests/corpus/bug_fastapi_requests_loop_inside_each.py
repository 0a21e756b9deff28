"""Three requests to a FastAPI route that itself loops: each request reads eight events by
key one at a time in its Session.  Repeats across requests are not the point; inside one
request the loop already runs the same SELECT eight times.  BUG: repeated-statement."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "select(Event).where(Event.id.in_(ids))"


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def make_app(batched: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/totals/{start}")
    def totals(start: int, session: Annotated[Session, Depends(get_session)]) -> int:
        ids = list(range(start, start + 8))
        if batched:
            return sum(e.amount for e in session.scalars(select(Event).where(Event.id.in_(ids))))
        return sum(session.get(Event, i).amount for i in ids)

    return app


def run(app: FastAPI) -> None:
    with TestClient(app) as client:
        for start in (10, 20, 30):
            assert client.get(f"/totals/{start}").status_code == 200


def test_bug() -> None:
    run(make_app(batched=False))


def test_fixed() -> None:
    run(make_app(batched=True))
