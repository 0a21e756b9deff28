"""``from_attributes`` response models over posts loaded with ``joinedload(Post.author)`` and
``selectinload(Post.tags)``: pydantic touches only loaded attributes, two statements.
CLEAN."""

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from corpus_app.db import engine
from corpus_app.models import Post


class Named(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    title: str
    author: Named
    tags: list[Named]


def test_clean() -> None:
    query = select(Post).options(joinedload(Post.author), selectinload(Post.tags))
    with Session(engine) as session:
        out = [PostOut.model_validate(p) for p in session.scalars(query)]
    assert len(out) == 20
