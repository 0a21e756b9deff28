"""The ORM's bulk UPDATE by primary key: ``session.execute(update(Order), rows)`` for ten
orders, sent as one executemany.  CLEAN (also with the write-loop rule on)."""

from sqlalchemy import update
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Order


def test_clean() -> None:
    with Session(engine) as session:
        session.execute(update(Order), [{"id": i, "status": "paid"} for i in range(1, 11)])
        session.commit()
