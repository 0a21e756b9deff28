"""An overview route looping over the orders of a customer list: per order it reads the
order's items total (a new key each time) and the shop-wide tax rate (the same statement
and parameters each time, loop-invariant).  BUG: repeated-statement, twice: the per-order
query needs one grouped ``IN`` query, the invariant one hoisting out of the loop."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Order, OrderItem, Tag

EXPECT = {"repeated-statement"}
FIX = (
    "select(OrderItem.order_id, func.sum(OrderItem.quantity)).where(OrderItem.order_id"
    ".in_(ids)).group_by(OrderItem.order_id)"
)


def test_bug() -> None:
    with Session(engine) as session:
        rows = []
        for order in session.scalars(select(Order)):
            units = session.scalar(
                select(func.sum(OrderItem.quantity)).where(OrderItem.order_id == order.id)
            )
            rate = session.scalar(select(Tag.id).where(Tag.name == "ops"))
            rows.append(units * rate)
    assert sum(rows) == 360


def test_fixed() -> None:
    with Session(engine) as session:
        orders = session.scalars(select(Order)).all()
        units = dict(
            session.execute(
                select(OrderItem.order_id, func.sum(OrderItem.quantity))
                .where(OrderItem.order_id.in_([o.id for o in orders]))
                .group_by(OrderItem.order_id)
            ).all()
        )
        rate = session.scalar(select(Tag.id).where(Tag.name == "ops"))
        rows = [units[o.id] * rate for o in orders]
    assert sum(rows) == 360
