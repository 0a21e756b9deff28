"""A Core ``insert(Event)`` with 3,000 parameter sets and ``RETURNING``: SQLAlchemy sends
it in ``insertmanyvalues`` batches of 1,000.  One bulk statement in three pieces.  CLEAN."""

from sqlalchemy import insert

from corpus_app.db import engine
from corpus_app.models import Event


def test_clean() -> None:
    with engine.begin() as connection:
        ids = connection.execute(
            insert(Event).returning(Event.id), [{"kind": "bulk", "amount": i} for i in range(3000)]
        ).all()
    assert len(ids) == 3000
