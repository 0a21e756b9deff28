"""Joined-table inheritance loaded with ``with_polymorphic(Employee, "*")``: one statement
LEFT OUTER JOINs both subclass tables, every subclass column is loaded.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session, with_polymorphic

from corpus_app.db import engine
from corpus_app.models import Employee, Manager


def test_clean() -> None:
    everyone = with_polymorphic(Employee, "*")
    with Session(engine) as session:
        staff = session.scalars(select(everyone)).all()
        budgets = sum(e.budget for e in staff if isinstance(e, Manager))
    assert budgets == 6000
