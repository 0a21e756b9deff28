"""An ``association_proxy`` (``Recipe.ingredient_names`` over ``Recipe.lines``) read for each
of 8 recipes: the proxy loads the lazy collection per recipe.  BUG: lazy-load on the
underlying relationship; ``selectinload(Recipe.lines)`` fixes it."""

from sqlalchemy import ForeignKey, String, insert, select
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from corpus_app.db import engine, seeder
from corpus_app.models import Base

EXPECT = {"lazy-load"}
FIX = "select(Recipe).options(selectinload(Recipe.lines))"


class Recipe(Base):
    __tablename__ = "ap_recipes"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(30))
    lines: Mapped[list["RecipeLine"]] = relationship()
    ingredient_names: AssociationProxy[list[str]] = association_proxy("lines", "ingredient")


class RecipeLine(Base):
    __tablename__ = "ap_recipe_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    recipe_id: Mapped[int] = mapped_column(ForeignKey("ap_recipes.id"))
    ingredient: Mapped[str] = mapped_column(String(30))


@seeder
def seed(session: Session) -> None:
    session.execute(insert(Recipe), [{"id": i, "title": f"r{i}"} for i in range(1, 9)])
    session.execute(
        insert(RecipeLine),
        [{"id": i, "recipe_id": i % 8 + 1, "ingredient": f"ing{i}"} for i in range(1, 33)],
    )


def shopping_list(*options: object) -> list[str]:
    with Session(engine) as session:
        return [
            name
            for r in session.scalars(select(Recipe).options(*options))
            for name in r.ingredient_names
        ]


def test_bug() -> None:
    assert len(shopping_list()) == 32


def test_fixed() -> None:
    assert len(shopping_list(selectinload(Recipe.lines))) == 32
