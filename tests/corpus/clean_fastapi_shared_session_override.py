"""The testing pattern of the FastAPI docs: a fixture's Session shared by every request
through ``app.dependency_overrides``; six requests each read one user by key.  One Session
for the whole test, but each request is its own unit of work.  CLEAN."""

from collections.abc import Iterator
from typing import Annotated

import pytest
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


@pytest.fixture
def client() -> Iterator[TestClient]:
    with Session(engine) as session:
        app.dependency_overrides[get_session] = lambda: session
        with TestClient(app) as test_client:
            yield test_client
        app.dependency_overrides.clear()


def test_clean(client: TestClient) -> None:
    for i in range(1, 7):
        assert client.get(f"/users/{i}").json() == {"name": f"user{i}"}
