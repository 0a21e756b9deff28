"""A sync ``def`` route (run in FastAPI's thread pool through ``anyio.to_thread``) that reads
each user's lazy one-to-one ``User.profile``: ten lazy SELECTs in one request.  BUG:
lazy-load, with its call site in the route, not in anyio's worker thread."""

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import User

EXPECT = {"lazy-load"}
FIX = "select(User).options(joinedload(User.profile))"


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def make_app(*options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/users")
    def list_users(session: Annotated[Session, Depends(get_session)]) -> list[str]:
        users = session.scalars(select(User).options(*options).order_by(User.id)).all()
        return [user.profile.city for user in users]

    return app


def run(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert len(client.get("/users").json()) == 10


def test_bug() -> None:
    run(make_app())


def test_fixed() -> None:
    run(make_app(joinedload(User.profile)))
