"""An order list that ``joinedload``\\ s each order's customer and prints the customer's name
with each order: the joined columns are what the page shows.  CLEAN, also with the
unused-eager-load rule on (the twin of bug_unused_joinedload.py)."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Order


def test_clean() -> None:
    with Session(engine) as session:
        orders = session.scalars(select(Order).options(joinedload(Order.customer))).all()
        lines = [f"{o.id}: {o.customer.name} {o.total}" for o in orders]
    assert len(lines) == 10
