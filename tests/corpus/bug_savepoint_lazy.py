"""Work inside a savepoint is still the same Session: a nested transaction that reads each
order's lazy ``items`` (10 orders) before deciding to keep the changes.  BUG: lazy-load;
``selectinload(Order.items)`` fixes it."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Order

EXPECT = {"lazy-load"}
FIX = "select(Order).options(selectinload(Order.items))"


def restock(*options: object) -> int:
    with Session(engine) as session:
        orders = session.scalars(select(Order).options(*options)).all()
        with session.begin_nested():
            units = sum(item.quantity for order in orders for item in order.items)
            for order in orders:
                order.status = "counted"
        session.commit()
        return units


def test_bug() -> None:
    assert restock() == 60


def test_fixed() -> None:
    assert restock(selectinload(Order.items)) == 60
