"""Factory Boy seeds 15 orders for a customer in a fixture (set-up, never counted), and the
test body runs the code under test: the customer's orders and their items, loaded by
``selectinload``, and read.  CLEAN: nothing of the seeding is the test body's."""

from collections.abc import Iterator

import factory
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Customer, Order


class OrderFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        model = Order
        sqlalchemy_session_persistence = "commit"

    customer_id = 2
    status = "seeded"
    total = factory.Sequence(int)


@pytest.fixture
def seeded() -> Iterator[None]:
    with Session(engine) as session:
        OrderFactory._meta.sqlalchemy_session = session
        OrderFactory.create_batch(15)
        yield


def test_clean(seeded: None) -> None:
    with Session(engine) as session:
        customer = session.scalars(
            select(Customer)
            .where(Customer.id == 2)
            .options(selectinload(Customer.orders).selectinload(Order.items))
        ).one()
        assert (len(customer.orders), sum(len(o.items) for o in customer.orders)) == (17, 6)
