"""A repository returns the open orders and the service prints each one's customer:
``Order.customer`` lazy-loads in the service, one SELECT per customer (5).  BUG: lazy-load
with the service's loop as call site; the repository query needs ``joinedload``."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Order

EXPECT = {"lazy-load"}
FIX = "select(Order).options(joinedload(Order.customer))"


class OrderRepository:
    def __init__(self, session: Session, *options: object) -> None:
        self.session, self.options = session, options

    def open_orders(self) -> list[Order]:
        return list(
            self.session.scalars(select(Order).options(*self.options).where(Order.status == "new"))
        )


def invoice_lines(repository: OrderRepository) -> list[str]:
    return [f"{order.id}: {order.customer.name}" for order in repository.open_orders()]


def test_bug() -> None:
    with Session(engine) as session:
        assert len(invoice_lines(OrderRepository(session))) == 10


def test_fixed() -> None:
    with Session(engine) as session:
        assert len(invoice_lines(OrderRepository(session, joinedload(Order.customer)))) == 10
