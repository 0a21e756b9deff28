"""The same CSV export run twice in one Session (a test checking it is stable): each run
pages through the comments by LIMIT/OFFSET, 12 pages of the same statement with repeated
parameter sets.  Pagination, twice.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Comment


def export(session: Session) -> list[str]:
    lines, offset = [], 0
    while rows := session.scalars(
        select(Comment).order_by(Comment.id).limit(10).offset(offset)
    ).all():
        lines += [c.text for c in rows]
        offset += 10
    return lines


def test_clean() -> None:
    with Session(engine) as session:
        assert export(session) == export(session)
