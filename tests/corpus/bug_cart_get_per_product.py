"""A cart of three products read one by one: ``[session.get(Event, pk) for pk in cart]``, a
loop whose body is the lookup alone.  Three keys, below the repeat threshold, but every run
comes from one line reached from one caller line (a list of lookups written out reaches it
from a line each): one loop of the app, what one ``IN`` query reads.  BUG:
repeated-statement; one query for the cart."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Event

EXPECT = {"repeated-statement"}
FIX = "session.scalars(select(Event).where(Event.id.in_(ids))).all()"
CART = (11, 12, 13)


def cart_events(session: Session, ids: tuple[int, ...], batched: bool) -> list[Event]:
    if batched:
        return list(session.scalars(select(Event).where(Event.id.in_(ids))).all())
    return [session.get(Event, pk) for pk in ids]


def test_bug() -> None:
    with Session(engine) as session:
        events = cart_events(session, CART, batched=False)
    assert [e.id for e in events] == list(CART)


def test_fixed() -> None:
    with Session(engine) as session:
        events = cart_events(session, CART, batched=True)
    assert sorted(e.id for e in events) == list(CART)
