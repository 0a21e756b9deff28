"""Tagging a post through a ``get_or_create`` helper called per tag name; all six tags
exist, so it is one SELECT by name per tag, six in one Session.  BUG: repeated-statement;
fetch the existing tags with one ``IN`` query."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import TAGS, engine
from corpus_app.models import Tag

EXPECT = {"repeated-statement"}
FIX = "select(Tag).where(Tag.name.in_(names))"


def get_or_create(session: Session, name: str) -> Tag:
    tag = session.scalars(select(Tag).where(Tag.name == name)).first()
    if tag is None:
        tag = Tag(name=name)
        session.add(tag)
    return tag


def test_bug() -> None:
    with Session(engine) as session:
        assert len([get_or_create(session, name) for name in TAGS]) == 6


def test_fixed() -> None:
    with Session(engine) as session:
        found = {t.name: t for t in session.scalars(select(Tag).where(Tag.name.in_(TAGS)))}
        assert len([found.get(n) or Tag(name=n) for n in TAGS]) == 6
