"""A hybrid property whose SQL side is a correlated count but whose Python side is
``len(self.members)``: read on each of 6 loaded clubs, the instance side lazy-loads the
collection per club.  BUG: lazy-load; query with ``selectinload(Club.members)`` (or use
the hybrid's SQL side in the query)."""

from sqlalchemy import ForeignKey, String, func, insert, select
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from corpus_app.db import engine, seeder
from corpus_app.models import Base

EXPECT = {"lazy-load"}
FIX = "select(Club).options(selectinload(Club.members))"


class Club(Base):
    __tablename__ = "hyb_clubs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    members: Mapped[list["Member"]] = relationship()

    @hybrid_property
    def member_count(self) -> int:
        return len(self.members)

    @member_count.inplace.expression
    @classmethod
    def _member_count(cls):  # type: ignore[no-untyped-def]
        return select(func.count(Member.id)).where(Member.club_id == cls.id).scalar_subquery()


class Member(Base):
    __tablename__ = "hyb_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    club_id: Mapped[int] = mapped_column(ForeignKey("hyb_clubs.id"))


@seeder
def seed(session: Session) -> None:
    session.execute(insert(Club), [{"id": i, "name": f"club{i}"} for i in range(1, 7)])
    session.execute(insert(Member), [{"id": i, "club_id": i % 6 + 1} for i in range(1, 31)])


def total(*options: object) -> int:
    with Session(engine) as session:
        return sum(c.member_count for c in session.scalars(select(Club).options(*options)))


def test_bug() -> None:
    assert total() == 30


def test_fixed() -> None:
    assert total(selectinload(Club.members)) == 30
