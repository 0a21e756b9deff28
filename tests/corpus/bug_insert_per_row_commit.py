"""An importer that adds and commits each row on its own (10 customers): ten single-row
INSERTs, each its own transaction.  BUG: write-loop; ``add_all`` and one commit sends one
multi-row INSERT."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Customer

EXPECT = {"write-loop"}
FIX = "session.add_all(customers); session.commit()"
NAMES = [f"imported{i}" for i in range(10)]


def test_bug() -> None:
    with Session(engine) as session:
        for name in NAMES:
            session.add(Customer(name=name))
            session.commit()


def test_fixed() -> None:
    with Session(engine) as session:
        customers = [Customer(name=n) for n in NAMES]
        session.add_all(customers)
        session.commit()
