"""The history store's tables, declared once with SQLAlchemy Core for SQLite and PostgreSQL.

- ``schema_version``: one row per migration applied (:mod:`dalperf.history.migrations`), with
  the dalperf version that applied it, so a store from a newer dalperf is recognised;
- ``series``: the comparability of each series (kind × ``--series`` name): the scale, seed,
  schema and results version of the first results added to it, which every later one must
  match;
- ``results``: one row per results file added: its content hash (what makes an add
  idempotent), the commit it was measured at, the file's environment;
- ``points``: one row per series key (operation × variant, endpoint, test) of a result, its
  figures copied out of the file.

Commit times are stored in UTC (SQLite keeps no time zone: :func:`utc` attaches it again).
A point's plan shapes are a JSON array of strings (equal from one commit to the next, so
read once per distinct text), and its samples little-endian float64s packed end to end
(:func:`pack_samples`): unpacking them is several times faster than parsing as many JSON
arrays, which dominated reading a history of 48,000 points.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("dalperf", String(64), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("series", String(200), nullable=False),
    Column("scale", String(64)),
    Column("seed", String(64)),
    Column("schema", String(200)),
    Column("results_version", Integer, nullable=False),
    UniqueConstraint("kind", "series", name="series_kind_series_key"),
)

results = Table(
    "results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("series", String(200), nullable=False),
    Column("sha", String(64), nullable=False),
    Column("branch", String(200), nullable=False),
    Column("subject", Text, nullable=False),
    Column("commit_time", DateTime(timezone=True), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("environment", JSON, nullable=False),
    Index("results_branch_kind_series_time", "branch", "kind", "series", "commit_time"),
    Index("results_sha", "sha"),
)

points = Table(
    "points",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("result_id", Integer, ForeignKey("results.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("queries", Integer),
    Column("round_trips", Integer),
    Column("network_round_trips", Integer),
    Column("buffers", Integer),
    Column("rows_fetched", Integer),
    Column("p50_ms", Float),
    Column("p95_ms", Float),
    Column("p95_low_ms", Float),
    Column("p95_high_ms", Float),
    Column("plan_shapes", Text, nullable=False),
    Column("samples_ms", LargeBinary, nullable=False),
    Index("points_result", "result_id"),
)

TABLES = (schema_version, series, results, points)


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one, as SQLite returns it, is UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def pack_samples(samples: Sequence[float]) -> bytes:
    """``samples`` as little-endian float64s, end to end."""
    packed = array("d", samples)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def unpack_samples(blob: bytes) -> tuple[float, ...]:
    """The samples :func:`pack_samples` packed."""
    packed = array("d")
    packed.frombytes(blob)
    if sys.byteorder != "little":
        packed.byteswap()
    return tuple(packed)
