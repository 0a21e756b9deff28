"""The ORM's bulk INSERT with RETURNING (``session.scalars(insert(Event).returning(Event),
rows)``) for 1,500 rows: ``insertmanyvalues`` batches, one statement from the app.
CLEAN (also with the write-loop rule on)."""

from sqlalchemy import insert
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event


def test_clean() -> None:
    with Session(engine) as session:
        events = session.scalars(
            insert(Event).returning(Event), [{"kind": "orm-bulk", "amount": i} for i in range(1500)]
        ).all()
        session.commit()
    assert len(events) == 1500
