"""Authors, then each author's posts, then each post's comments, all lazy: 5 loads of
``Author.posts`` and 20 of ``Post.comments``.  BUG: lazy-load (two relationships); the fix
chains both loaders from the query that brought the authors in."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Author, Post

EXPECT = {"lazy-load"}
FIX = "select(Author).options(selectinload(Author.posts).selectinload(Post.comments))"


def tree(*options: object) -> int:
    with Session(engine) as session:
        authors = session.scalars(select(Author).options(*options)).all()
        return sum(len(post.comments) for author in authors for post in author.posts)


def test_bug() -> None:
    assert tree() == 60


def test_fixed() -> None:
    assert tree(selectinload(Author.posts).selectinload(Post.comments)) == 60
