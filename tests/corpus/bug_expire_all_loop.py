"""``session.expire_all()`` in the middle of a report (to "see fresh data"), then reading
the 10 orders it already held: each order's columns reload one object at a time.  BUG:
column-reload (expired); reload them with one query with ``populate_existing``."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Order

EXPECT = {"column-reload"}
FIX = "session.scalars(select(Order).execution_options(populate_existing=True))"


def test_bug() -> None:
    with Session(engine) as session:
        orders = session.scalars(select(Order)).all()
        session.expire_all()
        assert sum(o.total for o in orders) == 550


def test_fixed() -> None:
    with Session(engine) as session:
        orders = session.scalars(select(Order)).all()
        session.scalars(select(Order).execution_options(populate_existing=True)).all()
        assert sum(o.total for o in orders) == 550
