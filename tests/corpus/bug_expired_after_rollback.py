"""A batch job catches an error, rolls back, and carries on with the 10 orders it held: the
rollback expired them, so each reloads its columns on its own.  BUG: column-reload
(expired); reload them in one query."""

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Order

EXPECT = {"column-reload"}
FIX = "session.scalars(select(Order).execution_options(populate_existing=True))"


def fail_once(session: Session) -> list[Order]:
    orders = session.scalars(select(Order)).all()
    try:
        session.execute(text("SELECT 1 / 0"))
    except DBAPIError:
        session.rollback()
    return list(orders)


def test_bug() -> None:
    with Session(engine) as session:
        orders = fail_once(session)
        assert [o.status for o in orders] == ["new"] * 10


def test_fixed() -> None:
    with Session(engine) as session:
        orders = fail_once(session)
        session.scalars(select(Order).execution_options(populate_existing=True)).all()
        assert [o.status for o in orders] == ["new"] * 10
