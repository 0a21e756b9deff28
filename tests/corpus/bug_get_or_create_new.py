"""A ``get_or_create`` helper that flushes each new row at once (to get its id), called for
eight names none of which exist: eight SELECTs by name and eight single-row INSERTs.  BUG:
repeated-statement and write-loop; one ``IN`` query, then the missing rows in one flush."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Tag

EXPECT = {"repeated-statement", "write-loop"}
FIX = "select(Tag).where(Tag.name.in_(names)); session.add_all(missing); session.flush()"
NAMES = [f"new{i}" for i in range(8)]


def get_or_create(session: Session, name: str) -> Tag:
    tag = session.scalars(select(Tag).where(Tag.name == name)).first()
    if tag is None:
        tag = Tag(name=name)
        session.add(tag)
        session.flush()
    return tag


def test_bug() -> None:
    with Session(engine) as session:
        assert all(get_or_create(session, n).id for n in NAMES)
        session.commit()


def test_fixed() -> None:
    with Session(engine) as session:
        found = {t.name for t in session.scalars(select(Tag).where(Tag.name.in_(NAMES)))}
        missing = [Tag(name=n) for n in NAMES if n not in found]
        session.add_all(missing)
        session.flush()
        assert all(t.id for t in missing)
        session.commit()
