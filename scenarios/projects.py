"""ProjectsDAL.getByUserIdWithRenderCounts: a page of a user's projects, each with its render count.

Newest first (``created_at DESC, id DESC``); every project column plus ``render_count``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import func, select

from dalperf.measure.scenario import Budget, Db, Size, register
from dalperf.scenarios._dal import Record, pick, read_rows, records, seeded_ids
from dalperf.seed.schema import projects, renders


@dataclass(frozen=True, kw_only=True)
class ListProjectsParams:
    user_id: int
    limit: int
    offset: int = 0


# --------------------------------------------------------------------------------------
# DAL methods
# --------------------------------------------------------------------------------------


async def get_by_user_id(db: Db, user_id: int, limit: int, offset: int) -> list[Record]:
    async with db.sessions() as session:
        result = await session.execute(
            select(projects)
            .where(projects.c.user_id == user_id)
            .order_by(projects.c.created_at.desc(), projects.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return records(result)


async def count_renders(db: Db, project_id: int) -> int:
    async with db.sessions() as session:
        result = await session.execute(
            select(func.count()).select_from(renders).where(renders.c.project_id == project_id)
        )
        return result.scalar_one()


async def get_by_user_id_with_render_counts(
    db: Db, user_id: int, limit: int, offset: int
) -> list[Record]:
    """The summary's SQL aggregation: LEFT JOIN renders, GROUP BY project, then the page."""
    async with db.sessions() as session:
        result = await session.execute(
            select(projects, func.count(renders.c.id).label("render_count"))
            .select_from(projects.outerjoin(renders, renders.c.project_id == projects.c.id))
            .where(projects.c.user_id == user_id)
            .group_by(projects.c.id)
            .order_by(projects.c.created_at.desc(), projects.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return records(result)


# --------------------------------------------------------------------------------------
# projects.list_with_render_counts
# --------------------------------------------------------------------------------------


async def list_with_render_counts_naive(db: Db, p: ListProjectsParams) -> list[Record]:
    """1 + N: the page of projects, then one COUNT per project."""
    page = await get_by_user_id(db, p.user_id, p.limit, p.offset)
    for project in page:
        project["render_count"] = await count_renders(db, project["id"])
    return page


async def list_with_render_counts_summary(db: Db, p: ListProjectsParams) -> list[Record]:
    """The summary's GROUP BY: joins and counts every project of the user, then pages."""
    return await get_by_user_id_with_render_counts(db, p.user_id, p.limit, p.offset)


async def list_with_render_counts_optimized(db: Db, p: ListProjectsParams) -> list[Record]:
    """One query that pages first, then counts only that page's renders (index-only per project)."""
    page = (
        select(projects)
        .where(projects.c.user_id == p.user_id)
        .order_by(projects.c.created_at.desc(), projects.c.id.desc())
        .limit(p.limit)
        .offset(p.offset)
        .subquery("page")
    )
    render_count = (
        select(func.count())
        .select_from(renders)
        .where(renders.c.project_id == page.c.id)
        .scalar_subquery()
        .label("render_count")
    )
    return records(
        await read_rows(
            db, select(page, render_count).order_by(page.c.created_at.desc(), page.c.id.desc())
        )
    )


async def owner_of_at_least(db: Db, rng: random.Random, n: int) -> int:
    """A user with ``n`` or more projects."""
    owners = await seeded_ids(
        db,
        select(projects.c.user_id)
        .group_by(projects.c.user_id)
        .having(func.count() >= n)
        .order_by(projects.c.user_id),
    )
    return pick(rng, owners, f"user with {n} or more projects")


async def user_with_projects(db: Db, rng: random.Random, size: int | None) -> ListProjectsParams:
    """A user with at least ``size`` projects; the first page of ``size`` of them."""
    assert size is not None
    return ListProjectsParams(user_id=await owner_of_at_least(db, rng, size), limit=size)


register(
    "projects.list_with_render_counts",
    variants={
        "naive": list_with_render_counts_naive,
        "summary": list_with_render_counts_summary,
        "optimized": list_with_render_counts_optimized,
    },
    params=user_with_projects,
    size=Size(name="projects", default=20, sweep=(5, 20, 50, 100)),
    budgets={
        "summary": Budget(max_queries=1, max_round_trips=1),
        "optimized": Budget(max_queries=1, max_round_trips=1),
    },
    description="ProjectsDAL.getByUserIdWithRenderCounts: a page of a user's projects, "
    "each with its render count.",
)
