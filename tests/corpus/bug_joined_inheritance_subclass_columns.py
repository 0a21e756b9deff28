"""Joined-table inheritance queried through the base class without polymorphic loading:
``select(Employee)`` returns managers and engineers whose own table's columns (``budget``,
``language``) are not loaded, so reading them loads each object's subclass row on its own
(12 objects).  BUG: column-reload; ``selectin_polymorphic`` loads them per subclass."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectin_polymorphic

from corpus_app.db import engine
from corpus_app.models import Employee, Engineer, Manager

EXPECT = {"column-reload"}
FIX = "select(Employee).options(selectin_polymorphic(Employee, [Manager, Engineer]))"


def describe(*options: object) -> list[str]:
    with Session(engine) as session:
        staff = session.scalars(select(Employee).options(*options).order_by(Employee.id)).all()
        return [f"{e.name}: {e.budget if isinstance(e, Manager) else e.language}" for e in staff]


def test_bug() -> None:
    assert len(describe()) == 12


def test_fixed() -> None:
    assert len(describe(selectin_polymorphic(Employee, [Manager, Engineer]))) == 12
