"""A customer list that asks for ``subqueryload(Customer.orders)`` and prints names only: a
statement of order rows nobody reads.  Clean for the N+1 rules; the unused-eager-load rule
reports it.  BUG (unused-eager-load only); drop the option."""

from sqlalchemy import select
from sqlalchemy.orm import Session, subqueryload

from corpus_app.db import engine
from corpus_app.models import Customer

EXPECT: set[str] = set()
EXPECT_WITH = {"unused-eager-load": {"unused-eager-load"}}
FIX = "select(Customer)"


def names(*options: object) -> list[str]:
    with Session(engine) as session:
        return [c.name for c in session.scalars(select(Customer).options(*options))]


def test_bug() -> None:
    assert len(names(subqueryload(Customer.orders))) == 5


def test_fixed() -> None:
    assert len(names()) == 5
