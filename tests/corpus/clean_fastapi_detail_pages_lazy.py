"""Six FastAPI requests for six order pages: each route reads one order and its lazy
``items`` and ``customer``.  Across the test ``Order.items`` loads for six orders, once per
request (per Session).  CLEAN."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Order

# counted over the whole test (dalperf_repeat_scope = test), the requests' repeats add up
EXPECT_WITH = {"repeat-scope-test": {"lazy-load", "repeated-statement"}}

app = FastAPI()


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@app.get("/orders/{order_id}")
def order(order_id: int, session: Annotated[Session, Depends(get_session)]) -> dict[str, object]:
    found = session.get(Order, order_id)
    return {"customer": found.customer.name, "skus": [i.sku for i in found.items]}


def test_clean() -> None:
    with TestClient(app) as client:
        for order_id in range(1, 7):
            assert len(client.get(f"/orders/{order_id}").json()["skus"]) == 3
