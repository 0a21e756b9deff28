"""Factory Boy used with ``build_batch`` and one ``add_all``/commit: 25 orders inserted as
one multi-row INSERT.  CLEAN (also with the write-loop rule on)."""

import factory
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Order


class OrderFactory(factory.Factory):
    class Meta:
        model = Order

    customer_id = 1
    status = "built"
    total = factory.Sequence(int)


def test_clean() -> None:
    with Session(engine) as session:
        session.add_all(OrderFactory.build_batch(25))
        session.commit()
