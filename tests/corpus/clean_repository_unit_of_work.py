"""A repository plus unit-of-work wrapper, the "clean architecture" way: one use case reads a
customer with its orders (``selectinload``), adds an order, commits.  Three statements.
CLEAN."""

from typing import Self

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Customer, Order


class CustomerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def with_orders(self, customer_id: int) -> Customer:
        return self.session.scalars(
            select(Customer)
            .where(Customer.id == customer_id)
            .options(selectinload(Customer.orders))
        ).one()


class UnitOfWork:
    def __enter__(self) -> Self:
        self.session = Session(engine)
        self.customers = CustomerRepository(self.session)
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def commit(self) -> None:
        self.session.commit()


def test_clean() -> None:
    with UnitOfWork() as uow:
        customer = uow.customers.with_orders(3)
        customer.orders.append(Order(status="new", total=len(customer.orders)))
        uow.commit()
