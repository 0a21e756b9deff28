"""``session.get(User, 3)`` ten times in one Session (a helper called from several places):
the first sends a SELECT, the other nine are identity-map hits with no statement.  CLEAN."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import User


def test_clean() -> None:
    with Session(engine) as session:
        users = [session.get(User, 3) for _ in range(10)]
    assert len({id(u) for u in users}) == 1
