"""A loop-invariant query inside the loop: for each of 20 posts the code reads the same
"maximum views" figure again, one statement with the same parameters 20 times in one
transaction, no waiting in between.  BUG: repeated-statement ("run it once and reuse")."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"repeated-statement"}
FIX = "top = session.scalar(select(func.max(Post.views)))  # once, before the loop"


def test_bug() -> None:
    with Session(engine) as session:
        posts = session.scalars(select(Post)).all()
        shares = [p.views / session.scalar(select(func.max(Post.views))) for p in posts]
    assert max(shares) == 1


def test_fixed() -> None:
    with Session(engine) as session:
        posts = session.scalars(select(Post)).all()
        top = session.scalar(select(func.max(Post.views)))  # once, before the loop
        shares = [p.views / top for p in posts]
    assert max(shares) == 1
