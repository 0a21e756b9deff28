"""An async handler running a sync report in ``anyio.to_thread.run_sync``; the report loads
orders with their items (``selectinload``).  Two statements in the worker thread.  CLEAN."""

import anyio
import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Order


def report() -> int:
    with Session(engine) as session:
        orders = session.scalars(select(Order).options(selectinload(Order.items))).all()
        return sum(i.quantity for o in orders for i in o.items)


async def handler() -> int:
    return await anyio.to_thread.run_sync(report)


def test_clean() -> None:
    assert anyio.run(handler) == 60
