"""A test-style sequence of six calls of one helper, each on its own line and each opening
its own Session for one lookup by key: the helper's line is the same every time, but nothing
iterates; six separate units of work, each running the statement once.  CLEAN."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import User

# counted over the whole test (dalperf_repeat_scope = test), the units' repeats add up
EXPECT_WITH = {"repeat-scope-test": {"repeated-statement"}}


def handle(user_id: int) -> str:
    with Session(engine) as session:
        return session.get(User, user_id).name


def test_clean() -> None:
    assert handle(1) == "user1"
    assert handle(2) == "user2"
    assert handle(3) == "user3"
    assert handle(4) == "user4"
    assert handle(5) == "user5"
    assert handle(6) == "user6"
