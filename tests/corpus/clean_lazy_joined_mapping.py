"""A scenario-local many-to-one mapped ``lazy="joined"``: every query for the child brings
the parent in the same statement, so reading it for 12 rows sends nothing more.  One
statement.  CLEAN."""

from sqlalchemy import ForeignKey, String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from corpus_app.db import engine, seeder
from corpus_app.models import Base


class Warehouse(Base):
    __tablename__ = "lj_warehouses"
    id: Mapped[int] = mapped_column(primary_key=True)
    city: Mapped[str] = mapped_column(String(30))


class Bin(Base):
    __tablename__ = "lj_bins"
    id: Mapped[int] = mapped_column(primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("lj_warehouses.id"))
    warehouse: Mapped[Warehouse] = relationship(lazy="joined")


@seeder
def seed(session: Session) -> None:
    session.execute(insert(Warehouse), [{"id": i, "city": f"c{i}"} for i in range(1, 5)])
    session.execute(insert(Bin), [{"id": i, "warehouse_id": i % 4 + 1} for i in range(1, 13)])


def test_clean() -> None:
    with Session(engine) as session:
        assert len({b.warehouse.city for b in session.scalars(select(Bin))}) == 4
