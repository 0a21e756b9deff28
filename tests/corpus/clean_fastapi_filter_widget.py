"""Six requests to a list page whose filter widget offers the distinct order statuses:
``SELECT DISTINCT status`` once per request (each its own Session), the page's rows by
another statement.  The same statement six times in the test, once per request.  CLEAN."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Order

app = FastAPI()


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@app.get("/orders")
async def list_orders(
    session: Annotated[Session, Depends(get_session)], page: int = 0
) -> dict[str, object]:
    statuses = session.scalars(select(Order.status).distinct()).all()
    rows = session.scalars(select(Order).order_by(Order.id).limit(2).offset(2 * page)).all()
    return {"filters": statuses, "ids": [o.id for o in rows]}


def test_clean() -> None:
    with TestClient(app) as client:
        for page in range(6):
            assert client.get("/orders", params={"page": page}).status_code == 200
