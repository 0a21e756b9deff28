"""The three newest posts of each author, one ``ORDER BY id DESC LIMIT 3`` query per author
(5): a LIMIT, but what changes between the runs is the author, not a page.  A per-parent
top-N loop.  BUG: repeated-statement; one query with ``row_number()`` over the authors."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from corpus_app.db import engine
from corpus_app.models import Author, Post

EXPECT = {"repeated-statement"}
FIX = "func.row_number().over(partition_by=Post.author_id, order_by=Post.id.desc())"


def test_bug() -> None:
    with Session(engine) as session:
        newest = {
            a.id: session.scalars(
                select(Post).where(Post.author_id == a.id).order_by(Post.id.desc()).limit(3)
            ).all()
            for a in session.scalars(select(Author))
        }
    assert sum(len(v) for v in newest.values()) == 15


def test_fixed() -> None:
    ranked = select(
        Post,
        func.row_number().over(partition_by=Post.author_id, order_by=Post.id.desc()).label("rank"),
    ).subquery()
    newest_post = aliased(Post, ranked)
    with Session(engine) as session:
        newest = session.scalars(select(newest_post).where(ranked.c.rank <= 3)).all()
    assert len(newest) == 15
