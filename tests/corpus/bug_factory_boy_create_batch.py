"""Factory Boy seeding in a test body with ``sqlalchemy_session_persistence="flush"``: each
of the 12 customers is flushed on its own, 12 single-row INSERTs.  BUG: write-loop, call site
the ``create_batch`` line here (``factory/alchemy.py`` is a library's); building the batch
and adding it in one flush sends one multi-row INSERT."""

import factory
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Customer

EXPECT = {"write-loop"}
FIX = "session.add_all(CustomerFactory.build_batch(12))"


class CustomerFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        model = Customer
        sqlalchemy_session_persistence = "flush"

    name = factory.Sequence(lambda n: f"factory-customer-{n}")


def test_bug() -> None:
    with Session(engine) as session:
        CustomerFactory._meta.sqlalchemy_session = session
        assert len(CustomerFactory.create_batch(12)) == 12
        session.commit()


def test_fixed() -> None:
    with Session(engine) as session:
        CustomerFactory._meta.sqlalchemy_session = session
        session.add_all(CustomerFactory.build_batch(12))
        session.commit()
