"""A loop over three authors, the way an assessment store scores the applications of a
round: for each author it reads the scoring rule (the same row of ``tags``, with the same
parameters, each time) and then the author's post views.  Below the repeat threshold, but
one loop of the app: the per-author read is an N+1 and the rule's read a loop-invariant
query inside it (run it once, before the loop).  BUG: repeated-statement (both)."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Post, Tag

EXPECT = {"repeated-statement"}
FIX = (
    "select(Post.author_id, func.sum(Post.views)).where(Post.author_id.in_(ids))"
    ".group_by(Post.author_id)"
)
AUTHORS = (1, 2, 3)


def rule(session: Session) -> int:
    return session.scalar(select(Tag.id).where(Tag.name == "python"))


def scores(session: Session, ids: tuple[int, ...]) -> dict[int, int]:
    found = {}
    for author_id in ids:
        weight = rule(session)
        views = session.scalar(select(func.sum(Post.views)).where(Post.author_id == author_id))
        found[author_id] = weight * views
    return found


def scores_batched(session: Session, ids: tuple[int, ...]) -> dict[int, int]:
    weight = rule(session)  # once, before the loop
    views = dict(
        session.execute(
            select(Post.author_id, func.sum(Post.views))
            .where(Post.author_id.in_(ids))
            .group_by(Post.author_id)
        ).all()
    )
    return {author_id: weight * views[author_id] for author_id in ids}


EXPECTED = {i: 4 * i + 30 for i in AUTHORS}


def test_bug() -> None:
    with Session(engine) as session:
        assert scores(session, AUTHORS) == EXPECTED


def test_fixed() -> None:
    with Session(engine) as session:
        assert scores_batched(session, AUTHORS) == EXPECTED
