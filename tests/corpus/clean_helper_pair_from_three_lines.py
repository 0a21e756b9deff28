"""A test checks three authors through one helper called from three lines of the test, in
one Session; the helper reads the author's posts and their comment count, two statements
with the author's id.  The same statements in the same order for three keys, but no loop:
the helper's lines are reached from a different line of the test each time.  CLEAN."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Comment, Post

# the small-repeats rule reports 2-4 lookups by key in one unit of work, loop or not
EXPECT_WITH = {"small-repeats": {"repeated-statement"}}


def profile(session: Session, author_id: int) -> tuple[int, int]:
    posts = session.scalars(select(Post.id).where(Post.author_id == author_id)).all()
    comments = session.scalar(
        select(func.count()).select_from(Comment).join(Post).where(Post.author_id == author_id)
    )
    return len(posts), comments


def test_clean() -> None:
    with Session(engine) as session:
        assert profile(session, 1) == (4, 12)
        assert profile(session, 2) == (4, 12)
        assert profile(session, 3) == (4, 12)
