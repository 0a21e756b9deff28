"""Customers loaded with ``selectinload(Customer.orders)``, then each order's ``items``
read: the first level is eager, the second lazy, one SELECT per order (10).  BUG:
lazy-load; the fix chains from the loader that brought the orders in."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Customer, Order

EXPECT = {"lazy-load"}
FIX = "select(Customer).options(selectinload(Customer.orders).selectinload(Order.items))"


def units(*options: object) -> int:
    with Session(engine) as session:
        customers = session.scalars(select(Customer).options(*options)).all()
        return sum(i.quantity for c in customers for o in c.orders for i in o.items)


def test_bug() -> None:
    assert units(selectinload(Customer.orders)) == 60


def test_fixed() -> None:
    assert units(selectinload(Customer.orders).selectinload(Order.items)) == 60
