"""Breadcrumbs for the 27 leaf categories: each leaf's lazy ``parent`` (many-to-one on the
same table) is one SELECT per distinct parent (9).  BUG: lazy-load;
``joinedload(Category.parent)`` fixes it."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Category

EXPECT = {"lazy-load"}
FIX = "select(Category).options(joinedload(Category.parent))"


def crumbs(*options: object) -> list[str]:
    with Session(engine) as session:
        leaves = session.scalars(select(Category).where(Category.id >= 14).options(*options))
        return [f"{leaf.parent.name} > {leaf.name}" for leaf in leaves]


def test_bug() -> None:
    assert len(crumbs()) == 27


def test_fixed() -> None:
    assert len(crumbs(joinedload(Category.parent))) == 27
