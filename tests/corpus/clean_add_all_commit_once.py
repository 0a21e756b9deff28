"""Ten new customers with ``add_all`` and one commit: one INSERT with ten VALUES rows
(``insertmanyvalues``).  CLEAN (also with the write-loop rule on)."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Customer


def test_clean() -> None:
    with Session(engine) as session:
        session.add_all([Customer(name=f"bulk{i}") for i in range(10)])
        session.commit()
