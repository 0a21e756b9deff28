"""An export that walks the posts in LIMIT/OFFSET pages of 4 until a short page: six runs of
one SELECT, each page a different OFFSET.  Already batched: pagination.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Post


def test_clean() -> None:
    titles, page = [], 0
    with Session(engine) as session:
        while True:
            rows = session.scalars(select(Post).order_by(Post.id).limit(4).offset(4 * page)).all()
            titles += [p.title for p in rows]
            if len(rows) < 4:
                break
            page += 1
    assert len(titles) == 20
