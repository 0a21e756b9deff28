"""Order statuses updated one statement per order (``update(Order).where(Order.id == i)``,
ten orders) where the code uses the mapped class.  BUG: write-loop; the fix is the ORM's bulk
UPDATE by primary key with the class: ``session.execute(update(Order), rows)``."""

from sqlalchemy import update
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Order

EXPECT = {"write-loop"}
FIX = "session.execute(update(Order), rows)"
ROWS = [{"id": i, "status": "shipped"} for i in range(1, 11)]


def test_bug() -> None:
    with Session(engine) as session:
        for row in ROWS:
            session.execute(update(Order).where(Order.id == row["id"]).values(status=row["status"]))
        session.commit()


def test_fixed() -> None:
    with Session(engine) as session:
        session.execute(update(Order), ROWS)
        session.commit()
