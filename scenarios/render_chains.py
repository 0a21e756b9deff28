"""RenderChainService.deleteChain: detach a chain's renders, then delete the chain.

The foreign key renders.chain_id has no ON DELETE action, so the renders must stop
pointing at the chain before the chain row goes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, delete, func, select, update

from dalperf.measure.scenario import Budget, Db, Size, register
from dalperf.scenarios._dal import Record, pick, records, seeded_ids
from dalperf.seed.schema import render_chains, renders


@dataclass(frozen=True, kw_only=True)
class ChainParams:
    chain_id: int


# --------------------------------------------------------------------------------------
# DAL methods of the "before" code
# --------------------------------------------------------------------------------------


async def get_chain_renders(db: Db, chain_id: int) -> list[Record]:
    async with db.sessions() as session:
        result = await session.execute(
            select(renders).where(renders.c.chain_id == chain_id).order_by(renders.c.chain_position)
        )
        return records(result)


async def remove_render_from_chain(db: Db, render_id: int) -> None:
    async with db.sessions.begin() as session:
        await session.execute(
            update(renders)
            .where(renders.c.id == render_id)
            .values(chain_id=None, chain_position=None, updated_at=datetime.now(UTC))
        )


async def batch_remove_renders_from_chain(db: Db, render_ids: list[int] | Select[Any]) -> int:
    """The summary's ``batchRemoveRendersFromChain``: one UPDATE with ``inArray``."""
    async with db.sessions.begin() as session:
        result = await session.execute(
            update(renders)
            .where(renders.c.id.in_(render_ids))
            .values(chain_id=None, chain_position=None, updated_at=datetime.now(UTC))
        )
        return cast(CursorResult[Any], result).rowcount


async def delete_chain_row(db: Db, chain_id: int) -> bool:
    async with db.sessions.begin() as session:
        result = await session.execute(delete(render_chains).where(render_chains.c.id == chain_id))
        return cast(CursorResult[Any], result).rowcount == 1


# --------------------------------------------------------------------------------------
# render_chains.delete_chain
# --------------------------------------------------------------------------------------


async def delete_chain_naive(db: Db, p: ChainParams) -> Record:
    """1 + N + 1: select the chain's renders, detach them one by one, delete the chain.

    Each statement commits on its own, as with the app's global ``db``: a failure half
    way leaves the chain half detached.
    """
    chain_renders = await get_chain_renders(db, p.chain_id)
    for render in chain_renders:
        await remove_render_from_chain(db, render["id"])
    deleted = await delete_chain_row(db, p.chain_id)
    return {"chain_id": p.chain_id, "detached": len(chain_renders), "deleted": deleted}


async def delete_chain_summary(db: Db, p: ChainParams) -> Record:
    """The summary's 2 queries: one batch UPDATE with ``inArray``, then the DELETE.

    The summary counts 2 queries; its batch method takes render ids, which fits only if the
    ids reach ``inArray`` without a SELECT of their own, so they are given as a subquery
    (Drizzle's ``inArray`` accepts one).  Two transactions, as in the summary.
    """
    chain_render_ids = select(renders.c.id).where(renders.c.chain_id == p.chain_id)
    detached = await batch_remove_renders_from_chain(db, chain_render_ids)
    deleted = await delete_chain_row(db, p.chain_id)
    return {"chain_id": p.chain_id, "detached": detached, "deleted": deleted}


async def delete_chain_optimized(db: Db, p: ChainParams) -> Record:
    """One statement, atomic: a data-modifying CTE detaches the renders, the DELETE follows.

    PostgreSQL checks the foreign key at the end of the statement, when the CTE's UPDATE
    is visible, so the chain can go in the same statement that detaches its renders.
    """
    detached = (
        update(renders)
        .where(renders.c.chain_id == p.chain_id)
        .values(chain_id=None, chain_position=None, updated_at=func.now())
        .returning(renders.c.id)
        .cte("detached")
    )
    detached_count = select(func.count()).select_from(detached).scalar_subquery()
    statement = (
        delete(render_chains)
        .where(render_chains.c.id == p.chain_id)
        .add_cte(detached)
        .returning(detached_count.label("detached"))
    )
    async with db.sessions.begin() as session:
        row = (await session.execute(statement)).first()
    # No chain row: nothing was deleted, and no render can point at a missing chain.
    return {
        "chain_id": p.chain_id,
        "detached": 0 if row is None else row.detached,
        "deleted": row is not None,
    }


async def chain_of_length(db: Db, rng: random.Random, size: int | None) -> ChainParams:
    """A chain with exactly ``size`` renders."""
    assert size is not None
    candidates = await seeded_ids(
        db,
        select(renders.c.chain_id)
        .where(renders.c.chain_id.is_not(None))
        .group_by(renders.c.chain_id)
        .having(func.count() == size)
        .order_by(renders.c.chain_id),
    )
    return ChainParams(chain_id=pick(rng, candidates, f"chain of exactly {size} renders"))


register(
    "render_chains.delete_chain",
    variants={
        "naive": delete_chain_naive,
        "summary": delete_chain_summary,
        "optimized": delete_chain_optimized,
    },
    params=chain_of_length,
    size=Size(name="renders in the chain", default=50, sweep=(5, 20, 50)),
    mutates=True,
    budgets={
        "summary": Budget(max_queries=2, max_round_trips=2),
        "optimized": Budget(max_queries=2, max_round_trips=2),
    },
    description="RenderChainService.deleteChain: detach a chain's renders, then delete the chain.",
    claims={
        "naive": {"wall_ms": 2500, "queries": 52, "note": "1 + N updates + delete, 50 renders"},
        "summary": {"wall_ms": 150, "queries": 2, "note": "batch update + delete"},
    },
)
