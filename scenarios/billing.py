"""BillingDAL.getUserCreditsWithReset: a user's credits with the active subscription and plan.

The result is ``{"credits", "subscription", "plan"}`` (whole rows; the last two ``None``
without an active subscription), or ``None`` for a user without a credits row.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import FromClause, and_, select, true

from dalperf.measure.scenario import Budget, Db, register
from dalperf.scenarios._dal import (
    Record,
    labelled_select,
    pick,
    read_rows,
    record,
    seeded_ids,
    split,
)
from dalperf.seed.schema import subscription_plans, user_credits, user_subscriptions

ACTIVE = "active"


@dataclass(frozen=True, kw_only=True)
class UserParams:
    user_id: int


# --------------------------------------------------------------------------------------
# DAL methods of the "before" code
# --------------------------------------------------------------------------------------


async def get_user_credits(db: Db, user_id: int) -> Record | None:
    async with db.sessions() as session:
        result = await session.execute(
            select(user_credits).where(user_credits.c.user_id == user_id).limit(1)
        )
        return record(result.first())


async def get_active_subscription(db: Db, user_id: int) -> Record | None:
    parts: dict[str, FromClause] = {"subscription": user_subscriptions, "plan": subscription_plans}
    async with db.sessions() as session:
        result = await session.execute(
            labelled_select(parts)
            .select_from(
                user_subscriptions.join(
                    subscription_plans, subscription_plans.c.id == user_subscriptions.c.plan_id
                )
            )
            .where(user_subscriptions.c.user_id == user_id, user_subscriptions.c.status == ACTIVE)
            .order_by(user_subscriptions.c.created_at.desc())
            .limit(1)
        )
        row = result.first()
    return None if row is None else split(row, parts)


# --------------------------------------------------------------------------------------
# billing.get_user_credits_with_reset
# --------------------------------------------------------------------------------------


async def get_user_credits_with_reset_naive(db: Db, p: UserParams) -> Record | None:
    """2 queries: the credits, then the active subscription with its plan."""
    credits = await get_user_credits(db, p.user_id)
    if credits is None:
        return None
    subscription = await get_active_subscription(db, p.user_id)
    if subscription is None:
        return {"credits": credits, "subscription": None, "plan": None}
    return {"credits": credits, **subscription}


_PARTS: dict[str, FromClause] = {
    "credits": user_credits,
    "subscription": user_subscriptions,
    "plan": subscription_plans,
}


async def get_user_credits_with_reset_summary(db: Db, p: UserParams) -> Record | None:
    """The summary's single query: LEFT JOINs, ``ORDER BY created_at DESC LIMIT 1``."""
    statement = (
        labelled_select(_PARTS)
        .select_from(
            user_credits.outerjoin(
                user_subscriptions,
                and_(
                    user_credits.c.user_id == user_subscriptions.c.user_id,
                    user_subscriptions.c.status == ACTIVE,
                ),
            ).outerjoin(subscription_plans, user_subscriptions.c.plan_id == subscription_plans.c.id)
        )
        .where(user_credits.c.user_id == p.user_id)
        .order_by(user_subscriptions.c.created_at.desc())
        .limit(1)
    )
    async with db.sessions() as session:
        row = (await session.execute(statement)).first()
    return None if row is None else split(row, _PARTS)


async def get_user_credits_with_reset_optimized(db: Db, p: UserParams) -> Record | None:
    """One query returning one row: the newest active subscription picked in a LATERAL join.

    Unlike the summary's ``ORDER BY ... LIMIT 1`` over the whole join, the ordering is
    confined to the user's active subscriptions (an index range on (user_id, status)),
    and ``id`` breaks ties so the pick is stable.
    """
    active = (
        select(user_subscriptions)
        .where(
            user_subscriptions.c.user_id == user_credits.c.user_id,
            user_subscriptions.c.status == ACTIVE,
        )
        .order_by(user_subscriptions.c.created_at.desc(), user_subscriptions.c.id.desc())
        .limit(1)
        .lateral("active")
    )
    parts: dict[str, FromClause] = {
        "credits": user_credits,
        "subscription": active,
        "plan": subscription_plans,
    }
    statement = (
        labelled_select(parts)
        .select_from(
            user_credits.outerjoin(active, true()).outerjoin(
                subscription_plans, subscription_plans.c.id == active.c.plan_id
            )
        )
        .where(user_credits.c.user_id == p.user_id)
    )
    rows = await read_rows(db, statement)
    return split(rows[0], parts) if rows else None


async def user_with_active_subscription(
    db: Db, rng: random.Random, _size: int | None
) -> UserParams:
    candidates = await seeded_ids(
        db,
        select(user_subscriptions.c.user_id)
        .distinct()
        .where(user_subscriptions.c.status == ACTIVE)
        .order_by(user_subscriptions.c.user_id),
    )
    return UserParams(user_id=pick(rng, candidates, "user with an active subscription"))


register(
    "billing.get_user_credits_with_reset",
    variants={
        "naive": get_user_credits_with_reset_naive,
        "summary": get_user_credits_with_reset_summary,
        "optimized": get_user_credits_with_reset_optimized,
    },
    params=user_with_active_subscription,
    budgets={
        "summary": Budget(max_queries=1, max_round_trips=1, max_rows_fetched=1),
        "optimized": Budget(max_queries=1, max_round_trips=1, max_rows_fetched=1),
    },
    description="BillingDAL.getUserCreditsWithReset: a user's credits with the active "
    "subscription and plan.",
    claims={
        "naive": {"wall_ms": 120, "queries": 2, "note": "2 separate queries"},
        "summary": {"wall_ms": 60, "queries": 1, "note": "1 query with LEFT JOINs"},
    },
)
