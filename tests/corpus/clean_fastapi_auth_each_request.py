"""A FastAPI app under ``TestClient``: six requests, each with its own Session from the
dependency, each looking up the caller by API token once and reading one post.  Over the
test the token lookup runs six times, but once per request (per unit of work).  CLEAN."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Post, User

# counted over the whole test (dalperf_repeat_scope = test), the requests' repeats add up
EXPECT_WITH = {"repeat-scope-test": {"repeated-statement"}}

app = FastAPI()


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def current_user(
    session: Annotated[Session, Depends(get_session)], authorization: Annotated[str, Header()]
) -> User:
    return session.scalars(select(User).where(User.token == authorization)).one()


@app.get("/posts/{post_id}")
def read_post(
    post_id: int,
    user: Annotated[User, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, object]:
    post = session.get(Post, post_id)
    return {"title": post.title, "reader": user.name}


def test_clean() -> None:
    with TestClient(app) as client:
        for i in range(1, 7):
            response = client.get(f"/posts/{i}", headers={"Authorization": f"token{i}"})
            assert response.status_code == 200
