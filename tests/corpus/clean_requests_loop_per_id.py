"""The test loops over three ids and sends one request per id to a FastAPI app; each request
gets its own Session from the dependency, and the route looks the post up once.  The same
lookup three times from one line, but in three units of work, each running it once: the
loop is the test's, not the app's.  CLEAN."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Post

app = FastAPI()


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@app.get("/posts/{post_id}")
def read_post(post_id: int, session: Annotated[Session, Depends(get_session)]) -> dict[str, str]:
    return {"title": session.get(Post, post_id).title}


def test_clean() -> None:
    with TestClient(app) as client:
        for post_id in (4, 5, 6):
            assert client.get(f"/posts/{post_id}").status_code == 200
