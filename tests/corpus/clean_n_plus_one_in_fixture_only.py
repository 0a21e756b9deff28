"""The N+1 happens in a fixture (a set-up that walks every post's comments lazily to build
expected values); the test body runs the code under test, which loads everything with
``selectinload``.  Only the body is judged.  CLEAN."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from corpus_app.db import engine
from corpus_app.models import Post


@pytest.fixture
def expected() -> dict[int, int]:
    with Session(engine) as session:
        return {p.id: len(p.comments) for p in session.scalars(select(Post))}


def test_clean(expected: dict[int, int]) -> None:
    with Session(engine) as session:
        found = {
            p.id: len(p.comments)
            for p in session.scalars(select(Post).options(selectinload(Post.comments)))
        }
    assert found == expected
