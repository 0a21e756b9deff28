"""The whole category subtree under a node with one recursive CTE: one statement, however
deep the tree.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from corpus_app.db import engine
from corpus_app.models import Category


def test_clean() -> None:
    tree = select(Category.id).where(Category.id == 2).cte(recursive=True)
    child = aliased(Category)
    tree = tree.union_all(select(child.id).where(child.parent_id == tree.c.id))
    with Session(engine) as session:
        nodes = session.scalars(select(Category).where(Category.id.in_(select(tree.c.id)))).all()
    assert len(nodes) == 13
