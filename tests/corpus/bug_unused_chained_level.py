"""Authors with ``selectinload(Author.posts).selectinload(Post.comments)``, but the page shows
post titles only: the first level is used, the comments level is loaded for nothing.  BUG
(unused-eager-load only): ``Post.comments``; keep ``selectinload(Author.posts)``."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Author, Post

EXPECT: set[str] = set()
EXPECT_WITH = {"unused-eager-load": {"unused-eager-load"}}
FIX = "select(Author).options(selectinload(Author.posts))"


def titles(option: object) -> int:
    with Session(engine) as session:
        authors = session.scalars(select(Author).options(option)).all()
        return sum(len(post.title) > 0 for author in authors for post in author.posts)


def test_bug() -> None:
    assert titles(selectinload(Author.posts).selectinload(Post.comments)) == 20


def test_fixed() -> None:
    assert titles(selectinload(Author.posts)) == 20
