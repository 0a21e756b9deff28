"""A ``WriteOnlyMapped`` collection read with ``session.scalars(parent.entries.select())``
per parent (6 ledgers): the app's own query per parent, not a lazy load.  BUG:
repeated-statement; one query ``WHERE ledger_id IN (...)``."""

from sqlalchemy import ForeignKey, insert, select
from sqlalchemy.orm import Mapped, Session, WriteOnlyMapped, mapped_column, relationship

from corpus_app.db import engine, seeder
from corpus_app.models import Base

EXPECT = {"repeated-statement"}
FIX = "select(Entry).where(Entry.ledger_id.in_(ids))"


class Ledger(Base):
    __tablename__ = "wo_ledgers"
    id: Mapped[int] = mapped_column(primary_key=True)
    entries: WriteOnlyMapped["Entry"] = relationship()


class Entry(Base):
    __tablename__ = "wo_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("wo_ledgers.id"))
    amount: Mapped[int]


@seeder
def seed(session: Session) -> None:
    session.execute(insert(Ledger), [{"id": i} for i in range(1, 7)])
    session.execute(
        insert(Entry), [{"id": i, "ledger_id": i % 6 + 1, "amount": i} for i in range(1, 31)]
    )


def test_bug() -> None:
    with Session(engine) as session:
        ledgers = session.scalars(select(Ledger)).all()
        totals = {
            ledger.id: sum(e.amount for e in session.scalars(ledger.entries.select()))
            for ledger in ledgers
        }
    assert sum(totals.values()) == 465


def test_fixed() -> None:
    with Session(engine) as session:
        ids = session.scalars(select(Ledger.id)).all()
        entries = session.scalars(select(Entry).where(Entry.ledger_id.in_(ids))).all()
    assert sum(e.amount for e in entries) == 465
