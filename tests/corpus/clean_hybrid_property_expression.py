"""A hybrid property used on its SQL side (filter and order by ``Interval.length``) in one
statement, then read on its Python side, which uses loaded columns only.  CLEAN."""

from sqlalchemy import String, insert, select
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, Session, mapped_column

from corpus_app.db import engine, seeder
from corpus_app.models import Base


class Interval(Base):
    __tablename__ = "hyb_intervals"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(20))
    start: Mapped[int]
    end: Mapped[int]

    @hybrid_property
    def length(self) -> int:
        return self.end - self.start


@seeder
def seed(session: Session) -> None:
    session.execute(
        insert(Interval),
        [{"id": i, "label": f"i{i}", "start": i, "end": i * 3} for i in range(1, 16)],
    )


def test_clean() -> None:
    with Session(engine) as session:
        long = session.scalars(
            select(Interval).where(Interval.length > 10).order_by(Interval.length.desc())
        ).all()
        assert [i.length for i in long] == sorted((i.length for i in long), reverse=True)
