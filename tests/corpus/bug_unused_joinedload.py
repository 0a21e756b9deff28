"""An order list that ``joinedload``\\ s each order's customer and prints only ids and totals:
the join's customer columns are fetched for nothing.  BUG (unused-eager-load only); drop
the option."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Order

EXPECT: set[str] = set()
EXPECT_WITH = {"unused-eager-load": {"unused-eager-load"}}
FIX = "select(Order)"


def totals(*options: object) -> list[str]:
    with Session(engine) as session:
        return [f"{o.id}: {o.total}" for o in session.scalars(select(Order).options(*options))]


def test_bug() -> None:
    assert len(totals(joinedload(Order.customer))) == 10


def test_fixed() -> None:
    assert len(totals()) == 10
