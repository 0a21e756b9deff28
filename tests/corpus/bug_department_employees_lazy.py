"""An org chart: each department's ``employees`` (a polymorphic collection over joined
inheritance) lazy-loaded per department, 3 departments.  BUG: lazy-load;
``selectinload(Department.employees)`` fixes it."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Department

EXPECT = {"lazy-load"}
FIX = "select(Department).options(selectinload(Department.employees))"


def chart(*options: object) -> dict[str, list[str]]:
    with Session(engine) as session:
        return {
            d.name: [e.name for e in d.employees]
            for d in session.scalars(select(Department).options(*options))
        }


def test_bug() -> None:
    assert sum(len(v) for v in chart().values()) == 12


def test_fixed() -> None:
    assert sum(len(v) for v in chart(selectinload(Department.employees)).values()) == 12
