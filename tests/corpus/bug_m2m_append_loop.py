"""Tagging ten posts with one more tag: ``post.tags.append(tag)`` loads each post's lazy
many-to-many collection first, one SELECT per post, and each of those loads autoflushes the
association row appended just before, so the rows go in one at a time too.  BUG: lazy-load
and write-loop; ``selectinload(Post.tags)`` on the query fixes both (no lazy load, no
autoflush: one executemany at commit)."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Post, Tag

EXPECT = {"lazy-load", "write-loop"}
FIX = "select(Post).options(selectinload(Post.tags))"


def tag_all(*options: object) -> None:
    with Session(engine) as session:
        extra = Tag(name="featured")
        for post in session.scalars(select(Post).where(Post.id <= 10).options(*options)):
            post.tags.append(extra)
        session.commit()


def test_bug() -> None:
    tag_all()


def test_fixed() -> None:
    tag_all(selectinload(Post.tags))
