"""A model whose ``__str__`` and ``@property`` use only its own loaded columns: printing 20
of them sends the one SELECT that loaded them.  CLEAN."""

from sqlalchemy import String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from corpus_app.db import engine, seeder
from corpus_app.models import Base


class Invoice(Base):
    __tablename__ = "str_invoices"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    net: Mapped[int]

    @property
    def gross(self) -> float:
        return self.net * 1.2

    def __str__(self) -> str:
        return f"{self.number}: {self.gross:.2f}"


@seeder
def seed(session: Session) -> None:
    session.execute(
        insert(Invoice), [{"id": i, "number": f"INV-{i}", "net": i * 10} for i in range(1, 21)]
    )


def test_clean() -> None:
    with Session(engine) as session:
        lines = [str(i) for i in session.scalars(select(Invoice))]
    assert len(lines) == 20
