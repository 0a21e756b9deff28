"""What the case-study DAL modules share: rows as dicts, id arrays, and picking seeded inputs.

Results are plain dicts and lists (a JSONB column arrives as a dict, a timestamp as an
aware ``datetime``) so that variants built from different statements compare equal.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Executable, FromClause, Select, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import ColumnElement

from dalperf.errors import UsageError
from dalperf.measure.scenario import Db

Record = dict[str, Any]


def record(row: Row[*tuple[Any, ...]] | None) -> Record | None:
    return None if row is None else dict(row._mapping)


def records(result: Iterable[Row[*tuple[Any, ...]]]) -> list[Record]:
    return [dict(row._mapping) for row in result]


def labelled_select(parts: Mapping[str, FromClause]) -> Select[Any]:
    """``SELECT`` every column of every part, labelled ``part__column``, for :func:`split`."""
    return select(
        *(
            column.label(f"{prefix}__{column.name}")
            for prefix, table in parts.items()
            for column in table.c
        )
    )


def split(row: Row[Any], parts: Mapping[str, FromClause]) -> dict[str, Record | None]:
    """One dict per part of a joined row; ``None`` for a part an outer join did not find."""
    mapping = row._mapping
    result: dict[str, Record | None] = {}
    for prefix, table in parts.items():
        part = {column.name: mapping[f"{prefix}__{column.name}"] for column in table.c}
        result[prefix] = part if any(value is not None for value in part.values()) else None
    return result


def newest_first(rows: Iterable[Record]) -> list[Record]:
    """``ORDER BY created_at DESC, id DESC`` done in Python."""
    return sorted(rows, key=lambda row: (row["created_at"], row["id"]), reverse=True)


def id_array(ids: Sequence[int]) -> ColumnElement[Any]:
    """``ids`` as one ``bigint[]`` parameter: one statement shape whatever the count."""
    return literal(list(ids), ARRAY(BigInteger))


async def seeded_ids(db: Db, statement: Executable) -> list[int]:
    """The first column of every row of ``statement`` (which should ``ORDER BY`` for determinism)."""
    async with db.sessions() as session:
        return list((await session.execute(statement)).scalars())


def pick(rng: random.Random, candidates: Sequence[int], what: str) -> int:
    if not candidates:
        raise UsageError(f"the seeded database has no {what}; seed it (at a larger scale)")
    return rng.choice(candidates)


def sample(rng: random.Random, candidates: Sequence[int], k: int, what: str) -> tuple[int, ...]:
    if len(candidates) < k:
        raise UsageError(
            f"the seeded database has {len(candidates)} {what}, fewer than the "
            f"{k} asked for; seed it at a larger scale"
        )
    return tuple(rng.sample(candidates, k))


async def read_rows(db: Db, statement: Executable) -> list[Row[Any]]:
    """Rows of one read-only statement sent outside a transaction.

    A single SELECT needs no BEGIN before it nor ROLLBACK after it: in autocommit mode the
    driver sends the statement alone, one network round trip instead of three.
    """
    async with db.sessions() as session:
        connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        return list((await connection.execute(statement)).all())
