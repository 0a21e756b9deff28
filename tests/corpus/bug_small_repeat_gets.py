"""A checkout page that reads three users by key, one ``session.get`` each (buyer, seller,
referrer) on a line each, in one Session: a list of lookups, no loop.  Below the default
repeat threshold, so clean by default; with the small-repeats rule on it is the 2-4 gets of
one table by key that rule reports.  BUG (small repeats only): repeated-statement; one
``IN`` query fixes it."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import User

EXPECT: set[str] = set()
EXPECT_WITH = {"small-repeats": {"repeated-statement"}}
FIX = "select(User).where(User.id.in_(ids))"
IDS = [2, 5, 9]


def test_bug() -> None:
    with Session(engine) as session:
        buyer = session.get(User, 2)
        seller = session.get(User, 5)
        referrer = session.get(User, 9)
        names = [buyer.name, seller.name, referrer.name]
    assert names == ["user2", "user5", "user9"]


def test_fixed() -> None:
    with Session(engine) as session:
        names = [
            u.name for u in session.scalars(select(User).where(User.id.in_(IDS)).order_by(User.id))
        ]
    assert names == ["user2", "user5", "user9"]
