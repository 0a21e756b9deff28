"""Validating an import: an ``EXISTS`` check per incoming customer name (10 names).  BUG:
repeated-statement; fetch the existing names once with ``IN``."""

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Customer

EXPECT = {"repeated-statement"}
FIX = "select(Customer.name).where(Customer.name.in_(names))"
NAMES = [f"customer{i}" for i in range(1, 11)]


def test_bug() -> None:
    with Session(engine) as session:
        known = [n for n in NAMES if session.scalar(select(exists().where(Customer.name == n)))]
    assert len(known) == 5


def test_fixed() -> None:
    with Session(engine) as session:
        known = set(session.scalars(select(Customer.name).where(Customer.name.in_(NAMES))))
    assert len(known) == 5
