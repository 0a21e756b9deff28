"""A FastAPI route that returns ORM objects and lets its ``response_model``
(``from_attributes``) serialise them: FastAPI validates the response after the route
returns, and each post's lazy ``Post.author`` loads there, inside FastAPI and pydantic.
BUG: lazy-load; the route's query needs ``joinedload(Post.author)``."""

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(joinedload(Post.author))"


class AuthorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    title: str
    author: AuthorOut


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def make_app(*options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/posts", response_model=list[PostOut])
    def posts(session: Annotated[Session, Depends(get_session)]) -> Any:
        return session.scalars(select(Post).options(*options)).all()

    return app


def run(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert len(client.get("/posts").json()) == 20


def test_bug() -> None:
    run(make_app())


def test_fixed() -> None:
    run(make_app(joinedload(Post.author)))
