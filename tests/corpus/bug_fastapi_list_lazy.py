"""A FastAPI list route that builds each post's byline from the lazy ``Post.author``, hit by
three requests: inside each request (one Session) the authors load one at a time.  BUG:
lazy-load, found in each request on its own, whatever the other requests did."""

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(joinedload(Post.author))"


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def make_app(*options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/posts")
    def list_posts(session: Annotated[Session, Depends(get_session)]) -> list[str]:
        posts = session.scalars(select(Post).options(*options).order_by(Post.id)).all()
        return [f"{post.title} by {post.author.name}" for post in posts]

    return app


def run(app: FastAPI) -> None:
    with TestClient(app) as client:
        for _ in range(3):
            assert len(client.get("/posts").json()) == 20


def test_bug() -> None:
    run(make_app())


def test_fixed() -> None:
    run(make_app(joinedload(Post.author)))
