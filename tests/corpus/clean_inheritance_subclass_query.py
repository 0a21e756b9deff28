"""Querying one subclass of a joined-inheritance hierarchy (``select(Engineer)``): one
statement joining ``employees`` and ``engineers``, every column loaded.  CLEAN."""

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Engineer


def test_clean() -> None:
    with Session(engine) as session:
        languages = Counter(e.language for e in session.scalars(select(Engineer)))
    assert sum(languages.values()) == 9
