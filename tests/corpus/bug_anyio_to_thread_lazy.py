"""An async handler that runs a sync report in a worker thread with
``anyio.to_thread.run_sync``; the report reads each order's lazy ``Order.items``, ten
SELECTs.  BUG: lazy-load, call site the report's loop here, not anyio's worker."""

import anyio
import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Order

EXPECT = {"lazy-load"}
FIX = "select(Order).options(selectinload(Order.items))"


def report(*options: object) -> int:
    with Session(engine) as session:
        orders = session.scalars(select(Order).options(*options)).all()
        return sum(item.quantity for order in orders for item in order.items)


async def handler(*options: object) -> int:
    return await anyio.to_thread.run_sync(lambda: report(*options))


def test_bug() -> None:
    assert anyio.run(handler) == 60


def test_fixed() -> None:
    assert anyio.run(handler, selectinload(Order.items)) == 60
