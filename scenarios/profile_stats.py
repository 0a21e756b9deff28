"""ProfileStatsService.getUserStats: the numbers on a user's profile page.

The page shows the user, how many projects (of the newest :data:`PROJECTS_LIMIT`) and
how many renders in them, the credits, and a summary of the latest
:data:`RECENT_RENDERS` renders.  The "before" code fetches the four inputs and counts in
the application; every variant returns the same ``dict`` (``None`` for an unknown user).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, true

from dalperf.measure.scenario import Budget, Db, register
from dalperf.scenarios._dal import Record, pick, read_rows, record, records, seeded_ids
from dalperf.scenarios.billing import UserParams, get_user_credits
from dalperf.scenarios.projects import get_by_user_id_with_render_counts
from dalperf.seed.schema import projects, renders, user_credits, users

PROJECTS_LIMIT = 1000  # ProjectsDAL.getByUserIdWithRenderCounts(userId, 1000, 0)
RECENT_RENDERS = 100  # RendersDAL.getByUser(userId, null, 100)
POWER_USERS = 5  # params pick among this many users with the most renders

_USER_COLUMNS = (users.c.id, users.c.name, users.c.email, users.c.avatar_url, users.c.created_at)


@dataclass(frozen=True, kw_only=True)
class _Inputs:
    user: Record | None
    projects: list[Record]
    credits: Record | None
    renders: list[Record]


# --------------------------------------------------------------------------------------
# DAL methods of the "before" code
# --------------------------------------------------------------------------------------


async def get_user_by_id(db: Db, user_id: int) -> Record | None:
    async with db.sessions() as session:
        result = await session.execute(select(*_USER_COLUMNS).where(users.c.id == user_id).limit(1))
        return record(result.first())


async def get_renders_by_user(
    db: Db, user_id: int, project_id: int | None, limit: int
) -> list[Record]:
    statement = select(renders).where(renders.c.user_id == user_id)
    if project_id is not None:
        statement = statement.where(renders.c.project_id == project_id)
    async with db.sessions() as session:
        result = await session.execute(
            statement.order_by(renders.c.created_at.desc(), renders.c.id.desc()).limit(limit)
        )
        return records(result)


def _stats(inputs: _Inputs) -> Record | None:
    """What the service computes from its four inputs."""
    if inputs.user is None:
        return None
    credits = inputs.credits
    recent = inputs.renders
    return {
        "user": inputs.user,
        "projects": len(inputs.projects),
        "renders": sum(project["render_count"] for project in inputs.projects),
        "credits": None
        if credits is None
        else {
            "balance": credits["balance"],
            "monthly_allowance": credits["monthly_allowance"],
            "next_reset_at": credits["next_reset_at"],
        },
        "recent": {
            "renders": len(recent),
            "completed": sum(render["status"] == "completed" for render in recent),
            "failed": sum(render["status"] == "failed" for render in recent),
            "credits_used": sum(render["credits_used"] for render in recent),
            "last_render_at": max((render["created_at"] for render in recent), default=None),
        },
    }


# --------------------------------------------------------------------------------------
# profile_stats.get_user_stats
# --------------------------------------------------------------------------------------


async def get_user_stats_naive(db: Db, p: UserParams) -> Record | None:
    """4 sequential awaits: user, projects with render counts, credits, latest renders."""
    user = await get_user_by_id(db, p.user_id)
    if user is None:
        return None
    user_projects = await get_by_user_id_with_render_counts(db, p.user_id, PROJECTS_LIMIT, 0)
    credits = await get_user_credits(db, p.user_id)
    recent = await get_renders_by_user(db, p.user_id, None, RECENT_RENDERS)
    return _stats(_Inputs(user=user, projects=user_projects, credits=credits, renders=recent))


async def get_user_stats_summary(db: Db, p: UserParams) -> Record | None:
    """The summary's ``Promise.all``: the same 4 queries at once, on 4 pooled connections."""
    user, user_projects, credits, recent = await asyncio.gather(
        get_user_by_id(db, p.user_id),
        get_by_user_id_with_render_counts(db, p.user_id, PROJECTS_LIMIT, 0),
        get_user_credits(db, p.user_id),
        get_renders_by_user(db, p.user_id, None, RECENT_RENDERS),
    )
    return _stats(_Inputs(user=user, projects=user_projects, credits=credits, renders=recent))


def _stats_statement(user_id: int) -> Select[Any]:
    listed = (
        select(projects.c.id)
        .where(projects.c.user_id == user_id)
        .order_by(projects.c.created_at.desc(), projects.c.id.desc())
        .limit(PROJECTS_LIMIT)
        .cte("listed")
    )
    recent = (
        select(renders.c.status, renders.c.credits_used, renders.c.created_at)
        .where(renders.c.user_id == user_id)
        .order_by(renders.c.created_at.desc(), renders.c.id.desc())
        .limit(RECENT_RENDERS)
        .cte("recent")
    )
    project_count = select(func.count()).select_from(listed).scalar_subquery()
    render_count = (
        select(func.count())
        .select_from(renders)
        .where(renders.c.project_id.in_(select(listed.c.id)))
        .scalar_subquery()
    )
    recent_stats = select(
        func.count().label("renders"),
        func.count().filter(recent.c.status == "completed").label("completed"),
        func.count().filter(recent.c.status == "failed").label("failed"),
        func.coalesce(func.sum(recent.c.credits_used), 0).label("credits_used"),
        func.max(recent.c.created_at).label("last_render_at"),
    ).subquery("recent_stats")
    return (
        select(
            *_USER_COLUMNS,
            user_credits.c.user_id.is_not(None).label("has_credits"),
            user_credits.c.balance,
            user_credits.c.monthly_allowance,
            user_credits.c.next_reset_at,
            project_count.label("projects"),
            render_count.label("renders"),
            recent_stats.c.renders.label("recent_renders"),
            recent_stats.c.completed,
            recent_stats.c.failed,
            recent_stats.c.credits_used,
            recent_stats.c.last_render_at,
        )
        .select_from(
            users.outerjoin(user_credits, user_credits.c.user_id == users.c.id).join(
                recent_stats, true()
            )
        )
        .where(users.c.id == user_id)
    )


async def get_user_stats_optimized(db: Db, p: UserParams) -> Record | None:
    """One statement, one row: the counts and sums computed where the data is."""
    rows = await read_rows(db, _stats_statement(p.user_id))
    if not rows:
        return None
    row = rows[0]
    return {
        "user": {column.name: getattr(row, column.name) for column in _USER_COLUMNS},
        "projects": row.projects,
        "renders": row.renders,
        "credits": {
            "balance": row.balance,
            "monthly_allowance": row.monthly_allowance,
            "next_reset_at": row.next_reset_at,
        }
        if row.has_credits
        else None,
        "recent": {
            "renders": row.recent_renders,
            "completed": row.completed,
            "failed": row.failed,
            "credits_used": row.credits_used,
            "last_render_at": row.last_render_at,
        },
    }


async def power_user(db: Db, rng: random.Random, _size: int | None) -> UserParams:
    """One of the :data:`POWER_USERS` users with the most renders."""
    candidates = await seeded_ids(
        db,
        select(renders.c.user_id)
        .group_by(renders.c.user_id)
        .order_by(func.count().desc(), renders.c.user_id)
        .limit(POWER_USERS),
    )
    return UserParams(user_id=pick(rng, candidates, "user with renders"))


register(
    "profile_stats.get_user_stats",
    variants={
        "naive": get_user_stats_naive,
        "summary": get_user_stats_summary,
        "optimized": get_user_stats_optimized,
    },
    params=power_user,
    budgets={
        "summary": Budget(max_queries=4, max_round_trips=1),
        "optimized": Budget(max_queries=1, max_round_trips=1, max_rows_fetched=1),
    },
    description="ProfileStatsService.getUserStats: the numbers on a user's profile page.",
    claims={
        "naive": {"wall_ms": 800, "queries": "4-5", "note": "sequential"},
        "summary": {"wall_ms": 250, "queries": 4, "note": "4 parallel"},
    },
)
