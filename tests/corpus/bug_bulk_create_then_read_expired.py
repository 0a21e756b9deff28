"""Ten customers created with ``add_all`` and one commit (fine), then the handler returns
their ids and names: the commit expired all ten, so each reloads on its own.  Not a refresh
after a write of one object: ten objects reloaded one at a time.  BUG: column-reload
(expired); ``expire_on_commit=False`` fixes it."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Customer

EXPECT = {"column-reload"}
FIX = "Session(engine, expire_on_commit=False)"


def create(session: Session) -> list[tuple[int, str]]:
    customers = [Customer(name=f"created{i}") for i in range(10)]
    session.add_all(customers)
    session.commit()
    return [(c.id, c.name) for c in customers]


def test_bug() -> None:
    with Session(engine) as session:
        assert len(create(session)) == 10


def test_fixed() -> None:
    with Session(engine, expire_on_commit=False) as session:
        assert len(create(session)) == 10
