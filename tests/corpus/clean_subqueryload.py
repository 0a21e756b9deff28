"""``subqueryload(Customer.orders)``: the orders of all customers in one extra statement.
Two statements.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session, subqueryload

from corpus_app.db import engine
from corpus_app.models import Customer


def test_clean() -> None:
    with Session(engine) as session:
        customers = session.scalars(select(Customer).options(subqueryload(Customer.orders)))
        assert sum(len(c.orders) for c in customers) == 10
