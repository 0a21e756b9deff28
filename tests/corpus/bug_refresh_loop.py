"""After an out-of-band bulk UPDATE, the code calls ``session.refresh(post)`` for each of
the 10 posts it holds: one SELECT per object, a column reload loop (not a repeated
statement of the app's own).  BUG: column-reload; one SELECT with ``populate_existing``
reloads them all."""

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"column-reload"}
FIX = (
    "session.scalars(select(Post).where(Post.id.in_(ids))"
    ".execution_options(populate_existing=True))"
)


def bump(session: Session) -> list[Post]:
    posts = session.scalars(select(Post).where(Post.id <= 10)).all()
    session.execute(
        update(Post).where(Post.id <= 10).values(views=Post.views + 1),
        execution_options={"synchronize_session": False},
    )
    return posts


def test_bug() -> None:
    with Session(engine) as session:
        posts = bump(session)
        for post in posts:
            session.refresh(post)
        assert posts[0].views == 2


def test_fixed() -> None:
    with Session(engine) as session:
        posts = bump(session)
        ids = [p.id for p in posts]
        session.scalars(
            select(Post).where(Post.id.in_(ids)).execution_options(populate_existing=True)
        ).all()
        assert posts[0].views == 2
