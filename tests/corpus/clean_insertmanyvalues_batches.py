"""One flush of 2,500 new events: SQLAlchemy sends it as ``insertmanyvalues`` batches of
1,000 rows (three INSERT ... RETURNING statements).  That is already the bulk insert, not
a row-by-row loop, even with the write-loop rule on.  CLEAN."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event


def test_clean() -> None:
    with Session(engine) as session:
        session.add_all(Event(kind="import", amount=i) for i in range(2500))
        session.commit()
