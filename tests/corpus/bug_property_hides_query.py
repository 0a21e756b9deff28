"""A ``@property`` that counts a lazy collection (``len(self.lines)``), read for each basket
in a list: one SELECT of ``Basket.lines`` per basket (8).  BUG: lazy-load, call site the
property here; ``selectinload(Basket.lines)`` fixes it."""

from sqlalchemy import ForeignKey, String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from corpus_app.db import engine, seeder
from corpus_app.models import Base

EXPECT = {"lazy-load"}
FIX = "select(Basket).options(selectinload(Basket.lines))"


class Basket(Base):
    __tablename__ = "prop_baskets"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(30))
    lines: Mapped[list["BasketLine"]] = relationship()

    @property
    def size(self) -> int:
        return len(self.lines)


class BasketLine(Base):
    __tablename__ = "prop_basket_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    basket_id: Mapped[int] = mapped_column(ForeignKey("prop_baskets.id"))
    sku: Mapped[str] = mapped_column(String(20))


@seeder
def seed(session: Session) -> None:
    session.execute(insert(Basket), [{"id": i, "owner": f"o{i}"} for i in range(1, 9)])
    session.execute(
        insert(BasketLine),
        [{"id": i, "basket_id": i % 8 + 1, "sku": f"s{i}"} for i in range(1, 25)],
    )


def sizes(*options: object) -> int:
    with Session(engine) as session:
        return sum(b.size for b in session.scalars(select(Basket).options(*options)))


def test_bug() -> None:
    assert sizes() == 24


def test_fixed() -> None:
    assert sizes(selectinload(Basket.lines)) == 24
