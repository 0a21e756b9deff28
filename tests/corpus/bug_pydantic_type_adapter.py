"""A list endpoint serialising posts with their comments through a ``TypeAdapter`` of
``from_attributes`` models: pydantic walks each post's lazy ``Post.comments``, 20 SELECTs.
BUG: lazy-load, call site the ``validate_python`` line here."""

from pydantic import BaseModel, ConfigDict, TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(selectinload(Post.comments))"


class CommentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    text: str


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    title: str
    comments: list[CommentOut]


POSTS = TypeAdapter(list[PostOut], config=None)


def serialize(*options: object) -> list[PostOut]:
    with Session(engine) as session:
        posts = session.scalars(select(Post).options(*options)).all()
        return POSTS.validate_python(posts, from_attributes=True)


def test_bug() -> None:
    assert sum(len(p.comments) for p in serialize()) == 60


def test_fixed() -> None:
    assert sum(len(p.comments) for p in serialize(selectinload(Post.comments))) == 60
