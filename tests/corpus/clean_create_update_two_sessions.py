"""The shape of a full-stack template's ``test_update_user``: the test's Session creates a
user (add, commit, refresh); one request with its own Session reads the current user and
the target by key, updates and refreshes it; the test refreshes its copy.  Five SELECTs on
users with two keys over two Sessions, each a read of a request or a refresh after a write.
No loop.  CLEAN; with the small-repeats rule on, the request's two reads of users by key
(the current user, then the target) are the 2-4 lookups that rule reports."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import User

EXPECT_WITH = {"small-repeats": {"repeated-statement"}}
ADMIN = 1


def update_request(user_id: int, name: str) -> None:
    with Session(engine) as request:
        request.get(User, ADMIN)  # the auth dependency: the current user
        user = request.get(User, user_id)
        user.name = name
        request.commit()
        request.refresh(user)


def test_clean() -> None:
    with Session(engine) as db:
        user = User(name="a", token="template-a")
        db.add(user)
        db.commit()
        db.refresh(user)
        update_request(user.id, "b")
        db.refresh(user)
        assert user.name == "b"
