"""A lookup helper (``session.get`` alone) called from three lines of a view in one
Session: the helper's line is the same each time, but it is reached from three caller
lines, so it is no loop.  CLEAN; with small repeats on, a repeated-statement."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import User

EXPECT_WITH = {"small-repeats": {"repeated-statement"}}


def name_of(session: Session, user_id: int) -> str:
    return session.get(User, user_id).name


def thread_header(session: Session) -> tuple[str, str, str]:
    author = name_of(session, 1)
    reviewer = name_of(session, 2)
    moderator = name_of(session, 3)
    return author, reviewer, moderator


def test_clean() -> None:
    with Session(engine) as session:
        assert thread_header(session) == ("user1", "user2", "user3")
