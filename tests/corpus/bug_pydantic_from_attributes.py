"""A Pydantic response model with ``from_attributes`` and a nested author: validating each
post reads the lazy ``Post.author`` inside pydantic, one SELECT per author.  BUG: lazy-load,
its call site the line calling ``model_validate`` (pydantic's frames are a library's)."""

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(joinedload(Post.author))"


class AuthorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    title: str
    author: AuthorOut


def serialize(*options: object) -> list[PostOut]:
    with Session(engine) as session:
        posts = session.scalars(select(Post).options(*options)).all()
        return [PostOut.model_validate(post) for post in posts]


def test_bug() -> None:
    assert len(serialize()) == 20


def test_fixed() -> None:
    assert len(serialize(joinedload(Post.author))) == 20
