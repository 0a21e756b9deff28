"""A FastAPI ``StreamingResponse`` whose generator writes one CSV line per post with the
post's lazy ``author``: the loads run while the response streams, in the generator.  BUG:
lazy-load, call site the generator here."""

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(joinedload(Post.author))"


def make_app(*options: Any) -> FastAPI:
    app = FastAPI()

    def lines() -> Iterator[str]:
        with Session(engine) as session:
            for post in session.scalars(select(Post).options(*options)):
                yield f"{post.title},{post.author.name}\n"

    @app.get("/export.csv")
    def export() -> StreamingResponse:
        return StreamingResponse(lines(), media_type="text/csv")

    return app


def run(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert client.get("/export.csv").text.count("\n") == 20


def test_bug() -> None:
    run(make_app())


def test_fixed() -> None:
    run(make_app(joinedload(Post.author)))
