"""A recursive walk of the category tree from the root (4 levels, 40 nodes): each node's
lazy ``children`` is one SELECT.  ``selectinload(Category.children)`` covers one level
only; the fix needs a depth.  BUG: lazy-load."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Category

EXPECT = {"lazy-load"}
FIX = "select(Category).options(selectinload(Category.children, recursion_depth=3))"


def count(node: Category) -> int:
    return 1 + sum(count(child) for child in node.children)


def tree_size(*options: object) -> int:
    with Session(engine) as session:
        root = session.scalars(
            select(Category).where(Category.parent_id.is_(None)).options(*options)
        ).one()
        return count(root)


def test_bug() -> None:
    assert tree_size() == 40


def test_fixed() -> None:
    assert tree_size(selectinload(Category.children, recursion_depth=3)) == 40
