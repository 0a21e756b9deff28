"""Core SELECTs by key in a loop on psycopg2 (which inlines the parameters into the SQL it
sends): twelve statements for twelve ids.  BUG: repeated-statement."""

from sqlalchemy import select

from corpus_app.db import psycopg2_engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "select(Event.amount).where(Event.id.in_(ids))"
IDS = list(range(1, 13))


def test_bug() -> None:
    with psycopg2_engine.connect() as connection:
        amounts = [connection.scalar(select(Event.amount).where(Event.id == i)) for i in IDS]
    assert len(amounts) == 12


def test_fixed() -> None:
    with psycopg2_engine.connect() as connection:
        amounts = connection.scalars(select(Event.amount).where(Event.id.in_(IDS))).all()
    assert len(amounts) == 12
