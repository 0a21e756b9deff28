"""An import that tries a batch inside a savepoint (``begin_nested``) and falls back when it
violates a constraint: one multi-row INSERT that fails, a ROLLBACK TO SAVEPOINT, one that
succeeds.  CLEAN: a savepoint around bulk work."""

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Tag


def test_clean() -> None:
    rows = [{"name": n} for n in ("python", "go", "rust", "zig")]  # "python" exists
    with Session(engine) as session:
        try:
            with session.begin_nested():
                session.execute(insert(Tag), rows)
        except IntegrityError:
            with session.begin_nested():
                session.execute(insert(Tag), rows[1:])
        session.commit()
