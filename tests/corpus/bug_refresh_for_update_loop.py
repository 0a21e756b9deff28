"""Locking the orders a batch job is about to change with ``session.refresh(order,
with_for_update=True)`` one object at a time (10 SELECT ... FOR UPDATE).  BUG: column-reload
(a refresh loop); one ``select(Order).where(Order.id.in_(ids)).with_for_update()`` with
``populate_existing`` locks and reloads them all."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Order

EXPECT = {"column-reload"}
FIX = (
    "session.scalars(select(Order).where(Order.id.in_(ids)).with_for_update()"
    ".execution_options(populate_existing=True))"
)


def test_bug() -> None:
    with Session(engine) as session:
        orders = session.scalars(select(Order)).all()
        for order in orders:
            session.refresh(order, with_for_update=True)
        assert len(orders) == 10
        session.rollback()


def test_fixed() -> None:
    with Session(engine) as session:
        orders = session.scalars(select(Order)).all()
        session.scalars(
            select(Order)
            .where(Order.id.in_([o.id for o in orders]))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        assert len(orders) == 10
        session.rollback()
