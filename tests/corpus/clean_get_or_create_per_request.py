"""A FastAPI endpoint that does ``get_or_create`` for the one tag it is given, called by
five requests (three tags exist, two are new): each request one SELECT and at most one
INSERT, in its own Session.  CLEAN."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Tag

# counted over the whole test (dalperf_repeat_scope = test), the requests' repeats add up
EXPECT_WITH = {"repeat-scope-test": {"repeated-statement"}}

app = FastAPI()


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@app.put("/tags/{name}")
def ensure_tag(name: str, session: Annotated[Session, Depends(get_session)]) -> dict[str, int]:
    tag = session.scalars(select(Tag).where(Tag.name == name)).first()
    if tag is None:
        tag = Tag(name=name)
        session.add(tag)
        session.commit()
    return {"id": tag.id}


def test_clean() -> None:
    with TestClient(app) as client:
        for name in ("python", "sql", "web", "rust", "zig"):
            assert client.put(f"/tags/{name}").status_code == 200
