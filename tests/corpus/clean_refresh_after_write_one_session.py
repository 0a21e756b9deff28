"""One Session that creates an order, refreshes it, adds an item, refreshes again, reads
it by key, updates its status and refreshes once more: the same SELECT on orders five
times with one key, each right after a write.  Refresh after write.  CLEAN."""

from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Order, OrderItem


def test_clean() -> None:
    with Session(engine) as session:
        order = Order(customer_id=1, status="new", total=0)
        session.add(order)
        session.commit()
        session.refresh(order)
        session.add(OrderItem(order_id=order.id, sku="x", quantity=1))
        order.total = 5
        session.commit()
        session.refresh(order)
        assert session.get(Order, order.id).total == 5
        order.status = "paid"
        session.commit()
        session.refresh(order)
        order.total = 7
        session.commit()
        session.refresh(order)
        assert order.status == "paid"
