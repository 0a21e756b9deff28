"""RendersDAL: a render with its context, renders by ids, batch status updates, top n per project.

``naive`` is the "before" code, ``summary`` the summary's "after" where it differs from
ours, ``optimized`` ours.  Every function opens its own session from ``db.sessions``, the
way the TypeScript DAL used its global ``db``.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import FromClause, func, select, true, update

from dalperf.measure.scenario import Budget, Db, Size, register
from dalperf.scenarios._dal import (
    Record,
    id_array,
    labelled_select,
    newest_first,
    pick,
    read_rows,
    record,
    records,
    sample,
    seeded_ids,
    split,
)
from dalperf.scenarios.projects import owner_of_at_least
from dalperf.seed.schema import projects, render_chains, renders

TOP_N = 5
WORKER_STATUSES = ("pending", "processing")  # what a worker picks up and then finishes
_TOP_COLUMNS = (
    renders.c.id,
    renders.c.project_id,
    renders.c.status,
    renders.c.prompt,
    renders.c.output_url,
    renders.c.created_at,
)


@dataclass(frozen=True, kw_only=True)
class RenderParams:
    render_id: int


@dataclass(frozen=True, kw_only=True)
class IdsParams:
    ids: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class StatusBatchParams:
    ids: tuple[int, ...]
    status: str
    error_message: str | None


@dataclass(frozen=True, kw_only=True)
class TopNParams:
    project_ids: tuple[int, ...]
    n: int = TOP_N


# --------------------------------------------------------------------------------------
# DAL methods of the "before" code, shared by naive and summary
# --------------------------------------------------------------------------------------


async def get_by_id(db: Db, render_id: int) -> Record | None:
    async with db.sessions() as session:
        result = await session.execute(select(renders).where(renders.c.id == render_id).limit(1))
        return record(result.first())


async def get_chain_by_id(db: Db, chain_id: int) -> Record | None:
    async with db.sessions() as session:
        result = await session.execute(
            select(render_chains).where(render_chains.c.id == chain_id).limit(1)
        )
        return record(result.first())


async def update_status(
    db: Db, render_id: int, status: str, error_message: str | None
) -> Record | None:
    async with db.sessions.begin() as session:
        result = await session.execute(
            update(renders)
            .where(renders.c.id == render_id)
            .values(status=status, error_message=error_message, updated_at=datetime.now(UTC))
            .returning(renders.c.id, renders.c.status, renders.c.error_message)
        )
        return record(result.first())


async def get_latest_by_project(db: Db, project_id: int, limit: int) -> list[Record]:
    async with db.sessions() as session:
        result = await session.execute(
            select(*_TOP_COLUMNS)
            .where(renders.c.project_id == project_id)
            .order_by(renders.c.created_at.desc(), renders.c.id.desc())
            .limit(limit)
        )
        return records(result)


async def _resolved(value: Record | None = None) -> Record | None:
    """``Promise.resolve(null)``: a branch of ``Promise.all`` that makes no query."""
    return value


# --------------------------------------------------------------------------------------
# renders.get_with_context
# --------------------------------------------------------------------------------------


async def get_with_context_naive(db: Db, p: RenderParams) -> Record | None:
    """Up to 4 sequential queries: the render, then its parent, reference and chain."""
    render = await get_by_id(db, p.render_id)
    if render is None:
        return None
    parent = None
    if render["parent_render_id"] is not None:
        parent = await get_by_id(db, render["parent_render_id"])
    reference = None
    if render["reference_render_id"] is not None:
        reference = await get_by_id(db, render["reference_render_id"])
    chain = None
    if render["chain_id"] is not None:
        chain = await get_chain_by_id(db, render["chain_id"])
    return {"render": render, "parent": parent, "reference": reference, "chain": chain}


async def get_with_context_summary(db: Db, p: RenderParams) -> Record | None:
    """The summary's 1 + 3 parallel: the render, then parent, reference and chain gathered."""
    render = await get_by_id(db, p.render_id)
    if render is None:
        return None
    parent, reference, chain = await asyncio.gather(
        get_by_id(db, render["parent_render_id"]) if render["parent_render_id"] else _resolved(),
        get_by_id(db, render["reference_render_id"])
        if render["reference_render_id"]
        else _resolved(),
        get_chain_by_id(db, render["chain_id"]) if render["chain_id"] else _resolved(),
    )
    return {"render": render, "parent": parent, "reference": reference, "chain": chain}


_parent = renders.alias("parent")
_reference = renders.alias("reference")
_CONTEXT_PARTS: dict[str, FromClause] = {
    "render": renders,
    "parent": _parent,
    "reference": _reference,
    "chain": render_chains,
}


_WITH_CONTEXT = labelled_select(_CONTEXT_PARTS).select_from(
    renders.outerjoin(_parent, _parent.c.id == renders.c.parent_render_id)
    .outerjoin(_reference, _reference.c.id == renders.c.reference_render_id)
    .outerjoin(render_chains, render_chains.c.id == renders.c.chain_id)
)


async def get_with_context_optimized(db: Db, p: RenderParams) -> Record | None:
    """One query: the render LEFT JOINed to its parent, reference and chain (all by primary key)."""
    rows = await read_rows(db, _WITH_CONTEXT.where(renders.c.id == p.render_id))
    return split(rows[0], _CONTEXT_PARTS) if rows else None


async def render_with_full_context(db: Db, rng: random.Random, _size: int | None) -> RenderParams:
    """A chained render with a parent and a reference: the case that makes all 4 lookups."""
    candidates = await seeded_ids(
        db,
        select(renders.c.id)
        .where(
            renders.c.parent_render_id.is_not(None),
            renders.c.reference_render_id.is_not(None),
            renders.c.chain_id.is_not(None),
        )
        .order_by(renders.c.id),
    )
    return RenderParams(render_id=pick(rng, candidates, "chained render with parent and reference"))


register(
    "renders.get_with_context",
    variants={
        "naive": get_with_context_naive,
        "summary": get_with_context_summary,
        "optimized": get_with_context_optimized,
    },
    params=render_with_full_context,
    # the summary's "after" fetches the render, its parent and its reference by id: one
    # shape three times, on purpose, so its budget does not forbid the repetition
    budgets={
        "summary": Budget(max_queries=4, max_round_trips=2, no_n_plus_one=False),
        "optimized": Budget(max_queries=1, max_round_trips=1, max_rows_fetched=1),
    },
    description="RendersDAL.getWithContext: a render with its parent, reference render and chain.",
    claims={
        "naive": {"wall_ms": 250, "queries": 4, "note": "sequential"},
        "summary": {"wall_ms": 100, "queries": 4, "note": "1 + 3 parallel"},
    },
)


# --------------------------------------------------------------------------------------
# renders.get_by_ids (the summary's getByIds is ours)
# --------------------------------------------------------------------------------------


async def get_by_ids_naive(db: Db, p: IdsParams) -> list[Record]:
    """One query per id in a loop, then sorted newest first in the application."""
    found = []
    for render_id in p.ids:
        render = await get_by_id(db, render_id)
        if render is not None:
            found.append(render)
    return newest_first(found)


async def get_by_ids_optimized(db: Db, p: IdsParams) -> list[Record]:
    """One query: ``WHERE id = ANY($1)``, newest first."""
    if not p.ids:
        return []
    return records(
        await read_rows(
            db,
            select(renders)
            .where(renders.c.id == func.any(id_array(p.ids)))
            .order_by(renders.c.created_at.desc(), renders.c.id.desc()),
        )
    )


async def random_render_ids(db: Db, rng: random.Random, size: int | None) -> IdsParams:
    assert size is not None
    candidates = await seeded_ids(db, select(renders.c.id).order_by(renders.c.id))
    return IdsParams(ids=sample(rng, candidates, size, "renders"))


register(
    "renders.get_by_ids",
    variants={"naive": get_by_ids_naive, "optimized": get_by_ids_optimized},
    params=random_render_ids,
    size=Size(name="ids", default=20, sweep=(5, 20, 50, 100)),
    budgets={"optimized": Budget(max_queries=1, max_round_trips=1)},
    description="RendersDAL.getByIds: many renders by id.",
)


# --------------------------------------------------------------------------------------
# renders.update_status_batch (the summary's updateStatusBatch is ours)
# --------------------------------------------------------------------------------------


async def update_status_batch_naive(db: Db, p: StatusBatchParams) -> list[Record]:
    """One UPDATE per render in a loop, each in its own transaction."""
    updated = []
    for render_id in p.ids:
        row = await update_status(db, render_id, p.status, p.error_message)
        if row is not None:
            updated.append(row)
    return updated


async def update_status_batch_optimized(db: Db, p: StatusBatchParams) -> list[Record]:
    """One ``UPDATE ... WHERE id = ANY($1) RETURNING`` in one transaction."""
    if not p.ids:
        return []
    async with db.sessions.begin() as session:
        result = await session.execute(
            update(renders)
            .where(renders.c.id == func.any(id_array(p.ids)))
            .values(status=p.status, error_message=p.error_message, updated_at=func.now())
            .returning(renders.c.id, renders.c.status, renders.c.error_message)
        )
        return records(result)


def _by_id(rows: list[Record]) -> list[Record]:
    """UPDATE ... RETURNING has no order; compare the updated rows by id."""
    return sorted(rows, key=lambda row: row["id"])


async def renders_a_worker_finishes(
    db: Db, rng: random.Random, size: int | None
) -> StatusBatchParams:
    """``size`` pending or processing renders, marked completed or failed together."""
    assert size is not None
    candidates = await seeded_ids(
        db, select(renders.c.id).where(renders.c.status.in_(WORKER_STATUSES)).order_by(renders.c.id)
    )
    ids = sample(rng, candidates, size, "pending or processing renders")
    if rng.random() < 0.5:
        return StatusBatchParams(ids=ids, status="completed", error_message=None)
    return StatusBatchParams(ids=ids, status="failed", error_message="GPU worker timed out")


register(
    "renders.update_status_batch",
    variants={"naive": update_status_batch_naive, "optimized": update_status_batch_optimized},
    params=renders_a_worker_finishes,
    size=Size(name="ids", default=20, sweep=(5, 20, 50, 100)),
    normalise=_by_id,
    mutates=True,
    budgets={"optimized": Budget(max_queries=1, max_round_trips=1)},
    description="RendersDAL.updateStatusBatch: set the status of many renders.",
)


# --------------------------------------------------------------------------------------
# renders.top_n_per_project
# --------------------------------------------------------------------------------------


async def top_n_per_project_naive(db: Db, p: TopNParams) -> dict[int, list[Record]]:
    """One query per project: its n newest renders."""
    top: dict[int, list[Record]] = {}
    for project_id in p.project_ids:
        top[project_id] = await get_latest_by_project(db, project_id, p.n)
    return top


async def top_n_per_project_summary(db: Db, p: TopNParams) -> dict[int, list[Record]]:
    """The summary's window function: every render of the projects, filtered in the application.

    The summary orders the window by ``created_at DESC`` alone; ``id DESC`` is added
    because ties on ``created_at`` would otherwise make the answer vary from run to run.
    """
    row_num = (
        func.row_number()
        .over(
            partition_by=renders.c.project_id,
            order_by=(renders.c.created_at.desc(), renders.c.id.desc()),
        )
        .label("row_num")
    )
    async with db.sessions() as session:
        result = await session.execute(
            select(*_TOP_COLUMNS, row_num).where(renders.c.project_id.in_(p.project_ids))
        )
        ranked = records(result)
    top: dict[int, list[Record]] = {project_id: [] for project_id in p.project_ids}
    for row in sorted((r for r in ranked if r["row_num"] <= p.n), key=lambda r: r["row_num"]):
        del row["row_num"]
        top[row["project_id"]].append(row)
    return top


async def top_n_per_project_optimized(db: Db, p: TopNParams) -> dict[int, list[Record]]:
    """One query, filtered in SQL: ``unnest($1)`` LATERAL-joined to each project's n newest."""
    wanted = (
        func.unnest(id_array(p.project_ids))
        .table_valued("project_id")
        .render_derived(name="wanted")
    )
    newest = (
        select(*_TOP_COLUMNS)
        .where(renders.c.project_id == wanted.c.project_id)
        .order_by(renders.c.created_at.desc(), renders.c.id.desc())
        .limit(p.n)
        .lateral("newest")
    )
    rows = records(
        await read_rows(
            db,
            select(newest)
            .select_from(wanted.join(newest, true()))
            .order_by(newest.c.project_id, newest.c.created_at.desc(), newest.c.id.desc()),
        )
    )
    top: dict[int, list[Record]] = {project_id: [] for project_id in p.project_ids}
    for row in rows:
        top[row["project_id"]].append(row)
    return top


async def a_users_latest_projects(db: Db, rng: random.Random, size: int | None) -> TopNParams:
    """The ``size`` newest projects of a user who has at least that many (a dashboard)."""
    assert size is not None
    user_id = await owner_of_at_least(db, rng, size)
    project_ids = await seeded_ids(
        db,
        select(projects.c.id)
        .where(projects.c.user_id == user_id)
        .order_by(projects.c.created_at.desc(), projects.c.id.desc())
        .limit(size),
    )
    return TopNParams(project_ids=tuple(project_ids))


register(
    "renders.top_n_per_project",
    variants={
        "naive": top_n_per_project_naive,
        "summary": top_n_per_project_summary,
        "optimized": top_n_per_project_optimized,
    },
    params=a_users_latest_projects,
    size=Size(name="projects", default=20, sweep=(5, 20, 50, 100)),
    budgets={
        "summary": Budget(max_queries=1, max_round_trips=1),
        "optimized": Budget(max_queries=1, max_round_trips=1),
    },
    description="The latest renders of each of a user's projects.",
)
