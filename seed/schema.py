"""The case-study schema as SQLAlchemy Core tables.

The source of truth for the database is ``migrations/``; these tables mirror migrations
0001-0005 so that the DAL code in ``scenarios/`` can build statements with SQLAlchemy.
``tests/test_schema_drift.py`` migrates a real database and compares it with this
metadata, so the two cannot drift apart silently.  Indexes of migration 0006 are not
declared here: they are what the index audit measures, applied and removed at run time.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP

metadata = MetaData()

RENDER_STATUSES = ("pending", "processing", "completed", "failed")
SUBSCRIPTION_STATUSES = ("active", "canceled", "past_due")


def _id() -> Column[int]:
    return Column("id", BigInteger, Identity(always=False), primary_key=True)


def _timestamp(name: str, *, nullable: bool = False) -> Column:
    default = None if nullable else func.now()
    return Column(name, TIMESTAMP(timezone=True), nullable=nullable, server_default=default)


users = Table(
    "users",
    metadata,
    _id(),
    Column("email", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("avatar_url", Text),
    _timestamp("created_at"),
    _timestamp("updated_at"),
)

subscription_plans = Table(
    "subscription_plans",
    metadata,
    _id(),
    Column("name", Text, nullable=False, unique=True),
    Column("price_cents", Integer, nullable=False),
    Column("monthly_credits", Integer, nullable=False),
    _timestamp("created_at"),
    CheckConstraint("price_cents >= 0"),
    CheckConstraint("monthly_credits >= 0"),
)

user_subscriptions = Table(
    "user_subscriptions",
    metadata,
    _id(),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("plan_id", BigInteger, ForeignKey("subscription_plans.id"), nullable=False),
    Column("status", Text, nullable=False),
    Column("current_period_start", TIMESTAMP(timezone=True), nullable=False),
    Column("current_period_end", TIMESTAMP(timezone=True), nullable=False),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    CheckConstraint("status IN ('active', 'canceled', 'past_due')"),
)

user_credits = Table(
    "user_credits",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id"), primary_key=True),
    Column("balance", Integer, nullable=False),
    Column("monthly_allowance", Integer, nullable=False),
    _timestamp("last_reset_at", nullable=True),
    _timestamp("next_reset_at", nullable=True),
    _timestamp("updated_at"),
    CheckConstraint("monthly_allowance >= 0"),
)

projects = Table(
    "projects",
    metadata,
    _id(),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("is_archived", Boolean, nullable=False, server_default=text("false")),
    _timestamp("created_at"),
    _timestamp("updated_at"),
)

render_chains = Table(
    "render_chains",
    metadata,
    _id(),
    Column("project_id", BigInteger, ForeignKey("projects.id"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("name", Text, nullable=False),
    _timestamp("created_at"),
    _timestamp("updated_at"),
)

renders = Table(
    "renders",
    metadata,
    _id(),
    Column("project_id", BigInteger, ForeignKey("projects.id"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("chain_id", BigInteger, ForeignKey("render_chains.id")),
    Column("chain_position", Integer),
    Column("parent_render_id", BigInteger, ForeignKey("renders.id")),
    Column("reference_render_id", BigInteger, ForeignKey("renders.id")),
    Column("status", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("settings", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("output_url", Text),
    Column("error_message", Text),
    Column("credits_used", Integer, nullable=False, server_default=text("0")),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    CheckConstraint("status IN ('pending', 'processing', 'completed', 'failed')"),
    CheckConstraint("(chain_id IS NULL) = (chain_position IS NULL)"),
)

gallery_items = Table(
    "gallery_items",
    metadata,
    _id(),
    Column("render_id", BigInteger, ForeignKey("renders.id"), nullable=False, unique=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("is_public", Boolean, nullable=False, server_default=text("false")),
    Column("likes", Integer, nullable=False, server_default=text("0")),
    _timestamp("created_at"),
    CheckConstraint("likes >= 0"),
)

# Load order: every table after the tables it references.
TABLES: tuple[Table, ...] = (
    users,
    subscription_plans,
    user_subscriptions,
    user_credits,
    projects,
    render_chains,
    renders,
    gallery_items,
)
