"""A profile page reading one row from each of five tables by key (user, profile, order,
customer, board): five different statements, once each.  CLEAN, also for small repeats."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Board, Customer, Order, Profile, User


def test_clean() -> None:
    with Session(engine) as session:
        found = [
            session.get(User, 1),
            session.get(Profile, 1),
            session.get(Order, 1),
            session.get(Customer, 1),
            session.get(Board, 1),
        ]
    assert all(found)
