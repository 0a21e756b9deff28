"""A GraphQL-style ``author`` field resolver that returns ``post.author``: resolving the
field for 20 posts lazy-loads each distinct author (5).  BUG: lazy-load; the root resolver's
query should ``joinedload(Post.author)``."""

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Author, Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(joinedload(Post.author))"
RESOLVERS: dict[str, Callable[[Post], object]] = {
    "title": lambda post: post.title,
    "author": lambda post: post.author,
}


def execute(*options: object) -> list[dict[str, object]]:
    with Session(engine) as session:
        posts = session.scalars(select(Post).options(*options)).all()
        return [{field: resolve(post) for field, resolve in RESOLVERS.items()} for post in posts]


def test_bug() -> None:
    assert all(isinstance(r["author"], Author) for r in execute())


def test_fixed() -> None:
    assert all(isinstance(r["author"], Author) for r in execute(joinedload(Post.author)))
