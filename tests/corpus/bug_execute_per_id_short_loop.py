"""A repository method reads four posts with one ``session.execute(select(Post).where(Post.id
== pk))`` per id, in a ``for`` loop and nothing else in its body.  Four keys, below the
repeat threshold; every run from the same line, reached from the same caller line: a loop
of the app.  BUG: repeated-statement; one ``IN`` query."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"repeated-statement"}
FIX = "session.scalars(select(Post).where(Post.id.in_(ids))).all()"
IDS = (3, 5, 8, 13)


class PostRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def titles(self, ids: tuple[int, ...]) -> list[str]:
        found = []
        for pk in ids:
            found.append(self.session.execute(select(Post).where(Post.id == pk)).scalar_one())
        return [p.title for p in found]

    def titles_batched(self, ids: tuple[int, ...]) -> list[str]:
        posts = self.session.scalars(select(Post).where(Post.id.in_(ids))).all()
        by_id = {p.id: p for p in posts}
        return [by_id[pk].title for pk in ids]


def test_bug() -> None:
    with Session(engine) as session:
        assert len(PostRepository(session).titles(IDS)) == 4


def test_fixed() -> None:
    with Session(engine) as session:
        assert len(PostRepository(session).titles_batched(IDS)) == 4
