"""A model whose ``__str__`` names its assignee: printing a list of tickets runs the lazy
``Ticket.assignee`` load inside ``__str__`` for each distinct agent (6).  BUG: lazy-load,
call site ``__str__`` here."""

from sqlalchemy import ForeignKey, String, insert, select
from sqlalchemy.orm import Mapped, Session, joinedload, mapped_column, relationship

from corpus_app.db import engine, seeder
from corpus_app.models import Base

EXPECT = {"lazy-load"}
FIX = "select(Ticket).options(joinedload(Ticket.assignee))"


class Agent(Base):
    __tablename__ = "str_agents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))


class Ticket(Base):
    __tablename__ = "str_tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(50))
    assignee_id: Mapped[int] = mapped_column(ForeignKey("str_agents.id"))
    assignee: Mapped[Agent] = relationship()

    def __str__(self) -> str:
        return f"#{self.id} {self.subject} ({self.assignee.name})"


@seeder
def seed(session: Session) -> None:
    session.execute(insert(Agent), [{"id": i, "name": f"agent{i}"} for i in range(1, 7)])
    session.execute(
        insert(Ticket),
        [{"id": i, "subject": f"s{i}", "assignee_id": i % 6 + 1} for i in range(1, 19)],
    )


def listing(*options: object) -> str:
    with Session(engine) as session:
        return "\n".join(str(t) for t in session.scalars(select(Ticket).options(*options)))


def test_bug() -> None:
    assert listing().count("#") == 18


def test_fixed() -> None:
    assert listing(joinedload(Ticket.assignee)).count("#") == 18
