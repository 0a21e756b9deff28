"""An overview that scores four authors, the way an assessment store's overview route scores
the applications of a round: per author it reads the scoring setting (the same row each
time) and the author's post views, and the test sends the request twice (each its own
Session).  Four keys per request, below the repeat threshold, but each iteration sends the
same two statements from the same lines with a new author: one loop of the app.  BUG:
repeated-statement; the views of every author in one grouped query."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Author, Post, Tag

EXPECT = {"repeated-statement"}
FIX = (
    "select(Post.author_id, func.sum(Post.views)).where(Post.author_id.in_(ids))"
    ".group_by(Post.author_id)"
)


def weight(session: Session) -> int:
    return session.scalar(select(Tag.id).where(Tag.name == "python"))


def score(session: Session, author: Author) -> int:
    views = session.scalars(select(Post.views).where(Post.author_id == author.id))
    return weight(session) * sum(views)


def overview(batched: bool) -> dict[int, int]:
    with Session(engine) as session:
        authors = session.scalars(select(Author).where(Author.id <= 4).order_by(Author.id)).all()
        if not batched:
            return {author.id: score(session, author) for author in authors}
        ids = [author.id for author in authors]
        views = dict(
            session.execute(
                select(Post.author_id, func.sum(Post.views))
                .where(Post.author_id.in_(ids))
                .group_by(Post.author_id)
            ).all()
        )
        factor = weight(session)
        return {i: factor * views[i] for i in ids}


EXPECTED = {i: 4 * i + 30 for i in range(1, 5)}  # posts i, i+5, i+10, i+15; python is tag 1


def test_bug() -> None:
    for _ in range(2):
        assert overview(batched=False) == EXPECTED


def test_fixed() -> None:
    for _ in range(2):
        assert overview(batched=True) == EXPECTED
