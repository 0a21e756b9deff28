"""An anyio task group that starts one worker-thread task per user id (8), each opening its
own Session for one ``session.get``: the same SELECT by key eight times from one function,
spread over threads and Sessions.  BUG: repeated-statement; one ``IN`` query."""

import anyio
import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import User

EXPECT = {"repeated-statement"}
FIX = "select(User).where(User.id.in_(ids))"
IDS = list(range(1, 9))


def fetch(user_id: int) -> str:
    with Session(engine) as session:
        return session.get(User, user_id).name


async def fan_out() -> list[str]:
    names: list[str] = []

    async def one(user_id: int) -> None:
        names.append(await anyio.to_thread.run_sync(fetch, user_id))

    async with anyio.create_task_group() as group:
        for user_id in IDS:
            group.start_soon(one, user_id)
    return names


def batched() -> list[str]:
    with Session(engine) as session:
        return [u.name for u in session.scalars(select(User).where(User.id.in_(IDS)))]


def test_bug() -> None:
    assert len(anyio.run(fan_out)) == 8


def test_fixed() -> None:
    assert len(batched()) == 8
