"""The legacy ``Query`` API in a loop: ``session.query(Customer).filter_by(id=i).first()`` for
each of 5 customers, then each one's lazy ``orders``.  BUG: repeated-statement and
lazy-load; one query with ``IN`` and ``selectinload``."""

from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Customer

EXPECT = {"repeated-statement", "lazy-load"}
FIX = "select(Customer).where(Customer.id.in_(ids)).options(selectinload(Customer.orders))"
IDS = [1, 2, 3, 4, 5]


def test_bug() -> None:
    with Session(engine) as session:
        counts = [len(session.query(Customer).filter_by(id=i).first().orders) for i in IDS]
    assert sum(counts) == 10


def test_fixed() -> None:
    with Session(engine) as session:
        customers = (
            session.query(Customer)
            .filter(Customer.id.in_(IDS))
            .options(selectinload(Customer.orders))
            .all()
        )
        assert sum(len(c.orders) for c in customers) == 10
