"""Sync ``def`` routes, which FastAPI runs in its thread pool (``anyio.to_thread``): six
requests, each reading one user by primary key in its own Session.  CLEAN: one statement
per request; the thread pool's frames are machinery, not the app."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import User

# counted over the whole test (dalperf_repeat_scope = test), the requests' repeats add up
EXPECT_WITH = {"repeat-scope-test": {"repeated-statement"}}

app = FastAPI()


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@app.get("/users/{user_id}")
def read_user(user_id: int, session: Annotated[Session, Depends(get_session)]) -> dict[str, str]:
    return {"name": session.get(User, user_id).name}


def test_clean() -> None:
    with TestClient(app) as client:
        for i in range(1, 7):
            assert client.get(f"/users/{i}").json() == {"name": f"user{i}"}
