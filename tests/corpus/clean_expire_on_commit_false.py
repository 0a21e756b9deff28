"""A handler on a ``sessionmaker(expire_on_commit=False)``: it loads 20 posts, commits a
view counter, and builds the response from the objects it holds, without reloading them.
Two statements and the commit.  CLEAN."""

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from corpus_app.db import engine
from corpus_app.models import Post

SessionLocal = sessionmaker(engine, expire_on_commit=False)


def test_clean() -> None:
    with SessionLocal() as session:
        posts = session.scalars(select(Post)).all()
        session.execute(update(Post).values(views=Post.views + 1))
        session.commit()
        assert len([p.title for p in posts]) == 20
