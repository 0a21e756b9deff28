"""GraphQL-style resolvers without a DataLoader: the ``comments`` field of each of the 20
posts resolves with its own query by ``post_id``.  BUG: repeated-statement (a top-level
query per parent, not a relationship load); batch the keys in one ``IN`` query."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Comment, Post

EXPECT = {"repeated-statement"}
FIX = "select(Comment).where(Comment.post_id.in_(post_ids))"


def resolve_comments(session: Session, post: Post) -> list[str]:
    return list(session.scalars(select(Comment.text).where(Comment.post_id == post.id)))


def batched_comments(session: Session, posts: list[Post]) -> Callable[[Session, Post], list[str]]:
    by_post: dict[int, list[str]] = {}
    for comment in session.scalars(
        select(Comment).where(Comment.post_id.in_([p.id for p in posts]))
    ):
        by_post.setdefault(comment.post_id, []).append(comment.text)
    return lambda _session, post: by_post.get(post.id, [])


def execute(batched: bool) -> list[dict[str, Any]]:
    with Session(engine) as session:
        posts = list(session.scalars(select(Post)))
        resolver = batched_comments(session, posts) if batched else resolve_comments
        return [{"title": p.title, "comments": resolver(session, p)} for p in posts]


def test_bug() -> None:
    assert sum(len(r["comments"]) for r in execute(batched=False)) == 60


def test_fixed() -> None:
    assert sum(len(r["comments"]) for r in execute(batched=True)) == 60
