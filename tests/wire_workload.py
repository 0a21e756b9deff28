"""Sync operations for the drivers the case study cannot reach: its variants are all async.

psycopg2 is a sync driver (and psycopg 3 has a sync engine too), so the wire truth and RTT
tests run these on the sync engine: reads by primary key in a transaction, one by one and
batched, an autocommit read, a write transaction (inside the runner's isolation), and
savepoints, the shapes of traffic the case study sends through its async engine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update

from dalperf.measure.engines import SyncDb
from dalperf.measure.registry import Registry, register
from dalperf.scenarios._dal import id_array
from dalperf.seed.schema import renders, users

WORKLOAD = Registry()
IDS = 5


@dataclass(frozen=True)
class Ids:
    ids: tuple[int, ...]


def some_users(db: SyncDb, rng: random.Random, _size: int | None) -> Ids:
    with db.sessions() as session:
        found = list(session.execute(select(users.c.id).order_by(users.c.id)).scalars())
    return Ids(tuple(rng.sample(found, IDS)))


def some_renders(db: SyncDb, rng: random.Random, _size: int | None) -> Ids:
    with db.sessions() as session:
        found = list(session.execute(select(renders.c.id).order_by(renders.c.id)).scalars())
    return Ids(tuple(rng.sample(found, IDS)))


def names_one_by_one(db: SyncDb, p: Ids) -> list[str]:
    """One SELECT per id, in one transaction."""
    with db.sessions() as session:
        return [
            session.execute(select(users.c.name).where(users.c.id == i)).scalar_one() for i in p.ids
        ]


def names_batched(db: SyncDb, p: Ids) -> list[str]:
    """One SELECT for all ids (an array parameter), in a transaction."""
    with db.sessions() as session:
        rows = dict(
            session.execute(
                select(users.c.id, users.c.name).where(users.c.id == id_array(p.ids).any_())
            ).all()
        )
    return [rows[i] for i in p.ids]


def names_autocommit(db: SyncDb, p: Ids) -> list[str]:
    """One SELECT in autocommit: no BEGIN, no ROLLBACK."""
    with db.sessions() as session:
        connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        rows = dict(
            connection.execute(
                select(users.c.id, users.c.name).where(users.c.id == id_array(p.ids).any_())
            ).all()
        )
    return [rows[i] for i in p.ids]


def touch_one_by_one(db: SyncDb, p: Ids) -> int:
    """One UPDATE per render, committed (a savepoint inside the runner's isolation)."""
    with db.sessions.begin() as session:
        return sum(
            session.execute(
                update(renders).where(renders.c.id == i).values(credits_used=renders.c.credits_used)
            ).rowcount
            for i in p.ids
        )


def touch_nested(db: SyncDb, p: Ids) -> int:
    """The same UPDATEs, each in a savepoint of its own, the last one rolled back and redone."""
    touched = 0
    with db.sessions.begin() as session:
        for i in p.ids:
            nested = session.begin_nested()
            touched += session.execute(
                update(renders).where(renders.c.id == i).values(credits_used=renders.c.credits_used)
            ).rowcount
            nested.commit()
        nested = session.begin_nested()
        session.execute(
            update(renders)
            .where(renders.c.id == p.ids[0])
            .values(credits_used=renders.c.credits_used)
        )
        nested.rollback()
    return touched


def touch_batched(db: SyncDb, p: Ids) -> int:
    """One UPDATE for all renders, committed."""
    with db.sessions.begin() as session:
        return session.execute(
            update(renders)
            .where(renders.c.id == id_array(p.ids).any_())
            .values(credits_used=renders.c.credits_used)
        ).rowcount


def touch_executemany(db: SyncDb, p: Ids) -> int:
    """The UPDATEs as one executemany (one parameter set per render), committed."""
    statement = (
        update(renders)
        .where(renders.c.id == bindparam("render_id"))
        .values(credits_used=renders.c.credits_used)
    )
    with db.sessions.begin() as session:
        session.connection().execute(statement, [{"render_id": i} for i in p.ids])
    return len(p.ids)


register(
    "wire.read_names",
    variants={
        "one_by_one": names_one_by_one,
        "batched": names_batched,
        "autocommit": names_autocommit,
    },
    params=some_users,
    registry=WORKLOAD,
)
register(
    "wire.touch_renders",
    variants={
        "one_by_one": touch_one_by_one,
        "nested": touch_nested,
        "batched": touch_batched,
        "executemany": touch_executemany,
    },
    params=some_renders,
    mutates=True,
    registry=WORKLOAD,
)
