"""Four Core SELECTs of one table by key in one connection (a permissions check for four
resources, a line each: no loop).  Clean at the default threshold; the 2-4 reads by key
that the small-repeats rule is for.  BUG (small repeats only): repeated-statement."""

from sqlalchemy import select

from corpus_app.db import engine
from corpus_app.models import Order

EXPECT: set[str] = set()
EXPECT_WITH = {"small-repeats": {"repeated-statement"}}
FIX = "select(Order.status).where(Order.id.in_(ids))"
IDS = [1, 4, 6, 9]


def test_bug() -> None:
    with engine.connect() as connection:
        read = connection.scalar(select(Order.status).where(Order.id == 1))
        write = connection.scalar(select(Order.status).where(Order.id == 4))
        share = connection.scalar(select(Order.status).where(Order.id == 6))
        delete = connection.scalar(select(Order.status).where(Order.id == 9))
        statuses = [read, write, share, delete]
    assert statuses == ["new"] * 4


def test_fixed() -> None:
    with engine.connect() as connection:
        statuses = connection.scalars(select(Order.status).where(Order.id.in_(IDS))).all()
    assert statuses == ["new"] * 4
