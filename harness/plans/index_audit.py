"""The index audit: what a performance migration's indexes buy, what they cost, what is missing.

A *performance migration* is a migration that only adds indexes (the case study's
``0006_add_performance_indexes``); by default the newest migration with a down file.
Its index names come from its SQL, parsed with PostgreSQL's own parser (pglast).

Measuring without it: :func:`measure_index_states` measures once per index state, with
the migration reverted (``migrate --to`` the version before it; the data stays) for the
state without indexes, and always migrates back up afterwards, also on error or Ctrl-C.
ANALYZE runs after each change, so the planner works from fresh statistics.

The audit (:func:`build_audit`) reads the results of a run, where the runner stored a
plan per statement shape and the indexes each replayed call scanned (foreign-key checks
included), plus the :class:`Catalog` of the database, and says:

- for every index: its size (``pg_relation_size``), whether it belongs to the performance
  migration, and which operations used it, in a plan or by ``idx_scan`` counts;
- the indexes nothing used (constraint indexes excepted): each one costs every write to
  its table and buys nothing the run measured;
- duplicate and overlapping indexes: the same key columns, key columns that are a prefix
  of another index's (the shorter one is redundant), or the same leading column;
- foreign keys whose columns lead no index (every DELETE of a referenced row scans);
- sequential scans on large tables with a filter, and *missing-index hints*: where such a
  filter is selective (keeps at most :data:`SELECTIVE_FRACTION` of the rows read), the
  table and the columns an index should lead with, equality columns first.

Only the measurements with the indexes as migrated are audited: without them, sequential
scans are what the comparison is meant to show.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.visitors import Visitor

from dalperf.db.migrations import Migration, discover, migrate
from dalperf.db.targets import Target, connect
from dalperf.errors import MigrationError, RunAborted, RunInterrupted, UsageError
from dalperf.plans.findings import DEFAULT_SEQ_SCAN_ROWS
from dalperf.results.model import Measurement, Results

SELECTIVE_FRACTION = 0.1
BTREE = "btree"


_INDEXES_SQL = """
SELECT n.nspname, ic.relname, t.relname, am.amname, i.indisunique,
       pg_get_expr(i.indpred, i.indrelid), pg_get_indexdef(i.indexrelid),
       pg_relation_size(i.indexrelid),
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k),
       EXISTS (SELECT 1 FROM pg_constraint c
               WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = ic.relam
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY n.nspname, t.relname, ic.relname
"""
_FOREIGN_KEYS_SQL = """
SELECT n.nspname, c.conname, t.relname,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord),
       c.confrelid::regclass::text
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE c.contype = 'f'
ORDER BY n.nspname, t.relname, c.conname
"""


# --------------------------------------------------------------------------------------
# The performance migration
# --------------------------------------------------------------------------------------


def performance_migration(
    folder: Path | None = None, version: str | None = None
) -> Migration | None:
    """Migration ``version`` of ``folder``, or the newest one with a down file (``None`` if
    there is none); a named version that is unknown or has no down file is a MigrationError."""
    migrations = discover(folder)
    if version is None:
        return next((m for m in reversed(migrations) if m.down is not None), None)
    for migration in migrations:
        if migration.version == version:
            if migration.down is None:
                raise MigrationError(
                    f"migration {migration.filename} has no down file, so "
                    "it cannot be measured without"
                )
            return migration
    known = ", ".join(m.version for m in migrations) or "none"
    raise MigrationError(f"unknown migration version {version!r}; known: {known}")


def index_names(migration: Migration) -> tuple[str, ...]:
    """The names of the indexes ``migration`` creates (``CREATE INDEX name ...``)."""
    try:
        statements = parse_sql(migration.up.read_text())
    except ParseError as exc:
        raise MigrationError(f"cannot parse {migration.filename}: {exc}") from exc
    return tuple(
        s.stmt.idxname for s in statements if isinstance(s.stmt, ast.IndexStmt) and s.stmt.idxname
    )


def _version_before(migration: Migration, folder: Path | None) -> str:
    earlier = [m.version for m in discover(folder) if m.version < migration.version]
    return earlier[-1] if earlier else "0000"


def _recorded_versions(conn: psycopg.Connection) -> set[str]:
    """The versions ``schema_migrations`` records, without creating it (read-only)."""
    found = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def _analyze(target: Target) -> None:
    with connect(target) as conn:
        conn.execute("ANALYZE")


@contextmanager
def indexes_removed(
    target: Target, migration: Migration, *, folder: Path | None = None
) -> Iterator[None]:
    """The database without ``migration`` (and anything newer) while the block runs.

    Migrated down and analysed on entry; migrated back up to the version it had and
    analysed on exit, however the block ends.  Needs a writable target.
    """
    target.ensure_writable()
    with connect(target) as conn:
        applied = _recorded_versions(conn)
    if migration.version not in applied:
        raise UsageError(
            f"migration {migration.filename} is not applied, so there is nothing "
            "to measure without; run `dalperf migrate` first"
        )
    try:
        migrate(target, to=_version_before(migration, folder), folder=folder)
        _analyze(target)
        yield
    finally:
        migrate(target, to=max(applied), folder=folder)
        _analyze(target)


def measure_index_states(
    target: Target,
    states: Sequence[bool],
    measure: Callable[[bool], Results],
    *,
    migration: Migration | None,
    folder: Path | None = None,
) -> Results:
    """``measure(indexes)`` once per state (``True``: as migrated, ``False``: without
    ``migration``), merged into one record; the indexes are restored whatever happens."""
    if not states:
        raise UsageError("no index state to measure")
    if False in states and migration is None:
        raise UsageError(
            "measuring without indexes needs a migration with a down file (--performance-migration)"
        )
    if False in states:
        target.ensure_writable()
    parts: list[Results] = []
    try:
        for state in states:
            if state:
                parts.append(measure(True))
            else:
                assert migration is not None
                with indexes_removed(target, migration, folder=folder):
                    parts.append(measure(False))
    except (RunAborted, RunInterrupted) as exc:  # keep the states measured before this one
        exc.results = dataclasses.replace(merge([*parts, exc.results]), partial=exc.results.partial)
        raise
    return merge(parts)


def merge(parts: Sequence[Results]) -> Results:
    """Several runs of the same operations (different index states) as one record."""
    first = parts[0]
    if len(parts) == 1:
        return first
    return dataclasses.replace(
        first,
        operations=tuple(m for part in parts for m in part.operations),
        failures=tuple(dict.fromkeys(f for part in parts for f in part.failures)),
        catalog={name: entry for part in parts for name, entry in part.catalog.items()},
    )


# --------------------------------------------------------------------------------------
# The catalog
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Index:
    """One index of a user table."""

    schema: str
    name: str
    table: str
    method: str
    unique: bool
    predicate: str | None
    definition: str
    size_bytes: int
    columns: tuple[str, ...]  # key columns (or expressions), INCLUDE columns left out
    constraint: bool  # backs a primary key, unique or exclusion constraint

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True, kw_only=True)
class ForeignKey:
    schema: str
    name: str
    table: str
    columns: tuple[str, ...]
    references: str


@dataclass(frozen=True, kw_only=True)
class Catalog:
    """The indexes and foreign keys of a database's user tables."""

    indexes: tuple[Index, ...]
    foreign_keys: tuple[ForeignKey, ...]

    @classmethod
    def read(cls, conn: psycopg.Connection) -> Catalog:
        indexes = tuple(
            Index(
                schema=r[0],
                name=r[1],
                table=r[2],
                method=r[3],
                unique=r[4],
                predicate=r[5],
                definition=r[6],
                size_bytes=int(r[7]),
                columns=tuple(r[8]),
                constraint=r[9],
            )
            for r in conn.execute(_INDEXES_SQL)
        )
        foreign_keys = tuple(
            ForeignKey(schema=r[0], name=r[1], table=r[2], columns=tuple(r[3]), references=r[4])
            for r in conn.execute(_FOREIGN_KEYS_SQL)
        )
        return cls(indexes=indexes, foreign_keys=foreign_keys)


# --------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------


def audit(
    results: Results,
    target: Target,
    *,
    migration: Migration | None,
    seq_scan_rows: int = DEFAULT_SEQ_SCAN_ROWS,
) -> Results:
    """``results`` with its ``index_audit`` built from ``target``'s current catalog;
    ``seq_scan_rows`` is the threshold the plans' findings were made with (it is shown)."""
    with connect(target) as conn:
        catalog = Catalog.read(conn)
        applied = _recorded_versions(conn)
    performance = None
    if migration is not None and migration.version in applied:
        performance = {
            "version": migration.version,
            "name": migration.name,
            "indexes": list(index_names(migration)),
        }
    return dataclasses.replace(
        results,
        index_audit=build_audit(
            results.operations, catalog, migration=performance, seq_scan_rows=seq_scan_rows
        ),
    )


def build_audit(
    measurements: Sequence[Measurement],
    catalog: Catalog,
    *,
    migration: dict[str, Any] | None,
    seq_scan_rows: int = DEFAULT_SEQ_SCAN_ROWS,
) -> dict[str, Any]:
    """The audit as JSON-ready data, from measurements (with plans) and the catalog alone."""
    audited = [m for m in measurements if m.indexes and m.plans]
    in_migration = set(migration["indexes"]) if migration else set()
    indexes = [
        _index_entry(index, audited, index.name in in_migration) for index in catalog.indexes
    ]
    seq_scans = [
        {"operation": m.operation, "variant": m.variant, "fingerprint": p["fingerprint"], **scan}
        for m in audited
        for p in m.plans
        if p.get("explainable")
        for scan in p["findings"]["seq_scans"]
    ]
    return {
        "migration": migration,
        "seq_scan_rows": seq_scan_rows,
        "operations": sorted({f"{m.operation} [{m.variant}]" for m in audited}),
        "indexes": indexes,
        "unused": [i["name"] for i in indexes if not i["used"] and not i["constraint"]],
        "overlaps": overlaps(catalog.indexes),
        "unindexed_foreign_keys": unindexed_foreign_keys(catalog),
        "seq_scans": seq_scans,
        "missing_index_hints": missing_index_hints(seq_scans, catalog),
    }


def _index_entry(
    index: Index, audited: Sequence[Measurement], in_migration: bool
) -> dict[str, Any]:
    """One index: where plans used it (a Bitmap Index Scan names no relation) and its scans."""
    in_plans = {
        f"{m.operation} [{m.variant}]"
        for m in audited
        for p in m.plans
        if p.get("explainable")
        and any(
            u["index"] == index.name and u["relation"] in (index.table, None)
            for u in p["findings"]["indexes"]
        )
    }
    scanned = {
        f"{m.operation} [{m.variant}]": sum(
            p.get("index_scans", {}).get(index.qualified, 0) for p in m.plans
        )
        for m in audited
    }
    scans = sum(scanned.values())
    return {
        "name": index.name,
        "schema": index.schema,
        "table": index.table,
        "columns": list(index.columns),
        "definition": index.definition,
        "size_bytes": index.size_bytes,
        "unique": index.unique,
        "constraint": index.constraint,
        "in_migration": in_migration,
        "used_in_plans": sorted(in_plans),
        "scanned_by": sorted(k for k, v in scanned.items() if v > 0),
        "scans": scans,
        "used": bool(in_plans) or scans > 0,
    }


def overlaps(indexes: Sequence[Index]) -> list[dict[str, Any]]:
    """Pairs of b-tree indexes of one table with the same predicate whose key columns are the
    same (``duplicate``), a prefix of the other's (``prefix``: the shorter one is redundant,
    unless it enforces uniqueness) or share only the leading column (``leading column``)."""
    found = []
    btrees = [i for i in indexes if i.method == BTREE]
    for position, a in enumerate(btrees):
        for b in btrees[position + 1 :]:
            if (a.schema, a.table) != (b.schema, b.table) or a.predicate != b.predicate:
                continue
            if a.columns[:1] != b.columns[:1]:
                continue
            short, long = (a, b) if len(a.columns) <= len(b.columns) else (b, a)
            if short.columns == long.columns:
                kind = "duplicate"
            elif long.columns[: len(short.columns)] == short.columns and not short.unique:
                kind = "prefix"
            else:
                kind = "leading column"
            found.append(
                {
                    "kind": kind,
                    "table": a.table,
                    "index": short.name,
                    "other": long.name,
                    "columns": list(short.columns),
                    "other_columns": list(long.columns),
                }
            )
    return found


def unindexed_foreign_keys(catalog: Catalog) -> list[dict[str, Any]]:
    """Foreign keys whose columns are not the leading key columns (in any order) of an index."""
    missing = []
    for fk in catalog.foreign_keys:
        wanted = set(fk.columns)
        covered = any(
            i.schema == fk.schema
            and i.table == fk.table
            and i.predicate is None
            and set(i.columns[: len(fk.columns)]) == wanted
            for i in catalog.indexes
        )
        if not covered:
            missing.append(
                {
                    "constraint": fk.name,
                    "table": fk.table,
                    "columns": list(fk.columns),
                    "references": fk.references,
                }
            )
    return missing


def missing_index_hints(
    seq_scans: Sequence[dict[str, Any]], catalog: Catalog
) -> list[dict[str, Any]]:
    """One hint per table and column list: where a selective filter made a sequential scan."""
    hints: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    for scan in seq_scans:
        read = scan["rows_read"]
        if not read or scan["rows_kept"] / read > SELECTIVE_FRACTION:
            continue
        columns = filter_columns(scan["filter"])
        if not columns:
            continue
        key = (scan["relation"], columns)
        hint = hints.setdefault(
            key,
            {
                "table": scan["relation"],
                "columns": list(columns),
                "filter": scan["filter"],
                "table_rows": scan["table_rows"],
                "operations": [],
                "existing": [
                    i.name
                    for i in catalog.indexes
                    if i.table == scan["relation"] and i.columns[:1] == columns[:1]
                ],
                "suggestion": f"CREATE INDEX ON {scan['relation']} ({', '.join(columns)})",
            },
        )
        where = f"{scan['operation']} [{scan['variant']}]"
        if where not in hint["operations"]:
            hint["operations"].append(where)
    return list(hints.values())


class _Columns(Visitor):
    """The columns an expression refers to, split by whether an equality compares them."""

    def __init__(self) -> None:
        super().__init__()
        self.equality: list[tuple[int, str]] = []
        self.other: list[tuple[int, str]] = []

    def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> None:
        name = node.fields[-1] if node.fields else None
        if not isinstance(name, ast.String) or name.sval is None:
            return  # table.*
        comparison = ancestors.find_nearest(ast.A_Expr)
        is_equality = comparison is not None and comparison.node.name[-1].sval == "="
        location = node.location if node.location is not None else -1
        (self.equality if is_equality else self.other).append((location, name.sval))


def filter_columns(expression: str) -> tuple[str, ...]:
    """The columns of a plan's ``Filter`` in index order: equality columns first, then the
    others (ranges, booleans), each in the order the filter names them; ``()`` if the text
    does not parse."""
    try:
        tree = parse_sql(f"SELECT 1 WHERE {expression}")
    except ParseError:
        return ()
    visitor = _Columns()
    visitor(tree)
    ordered = [name for _, name in sorted(visitor.equality)] + [
        name for _, name in sorted(visitor.other)
    ]
    return tuple(dict.fromkeys(ordered))
