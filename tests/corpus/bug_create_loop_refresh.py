"""An import that calls the app's ``create_user`` helper (add, commit, refresh) for each of 8
rows: the refreshes are refresh-after-write and no finding, but the INSERTs are a row-by-row
write loop.  BUG: write-loop only; ``add_all`` and one commit fixes it."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import User

EXPECT = {"write-loop"}
FIX = "session.add_all(users); session.commit()"
NAMES = [f"imported{i}" for i in range(8)]


def create_user(session: Session, name: str) -> User:
    user = User(name=name, token=f"t-{name}")
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def test_bug() -> None:
    with Session(engine) as session:
        assert all(create_user(session, n).id for n in NAMES)


def test_fixed() -> None:
    with Session(engine) as session:
        users = [User(name=n, token=f"t-{n}") for n in NAMES]
        session.add_all(users)
        session.commit()
