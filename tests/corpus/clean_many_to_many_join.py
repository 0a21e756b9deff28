"""Posts per tag counted with one joined, grouped query over the association table, and
each tag's posts loaded with ``selectinload(Tag.posts)``.  Two statements.  CLEAN."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Tag, post_tags


def test_clean() -> None:
    with Session(engine) as session:
        counts = dict(
            session.execute(
                select(Tag.name, func.count(post_tags.c.post_id)).join(post_tags).group_by(Tag.name)
            ).all()
        )
        tags = session.scalars(select(Tag).options(selectinload(Tag.posts))).all()
        assert all(len(t.posts) == counts[t.name] for t in tags)
