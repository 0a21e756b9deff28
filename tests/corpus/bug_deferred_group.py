"""A scenario-local model with two text columns in one deferred group (``group="text"``):
a list printing each article's summary loads the group per article (8).  BUG:
column-reload (deferred); ``undefer_group("text")`` fixes it."""

from sqlalchemy import String, Text, insert, select
from sqlalchemy.orm import Mapped, Session, deferred, mapped_column, undefer_group

from corpus_app.db import engine, seeder
from corpus_app.models import Base

EXPECT = {"column-reload"}
FIX = 'select(Article).options(undefer_group("text"))'


class Article(Base):
    __tablename__ = "dg_articles"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(30))
    summary: Mapped[str] = deferred(mapped_column(Text), group="text")
    body: Mapped[str] = deferred(mapped_column(Text), group="text")


@seeder
def seed(session: Session) -> None:
    session.execute(
        insert(Article),
        [{"id": i, "title": f"a{i}", "summary": f"s{i}", "body": f"b{i}"} for i in range(1, 9)],
    )


def summaries(*options: object) -> list[str]:
    with Session(engine) as session:
        return [a.summary for a in session.scalars(select(Article).options(*options))]


def test_bug() -> None:
    assert len(summaries()) == 8


def test_fixed() -> None:
    assert len(summaries(undefer_group("text"))) == 8
