"""EXPLAIN the statements an operation sent, replayed with the parameters it sent them with.

A capture knows every statement of a call and its parameters as the driver got them
(psycopg's ``%(name)s`` style).  :class:`Explainer` replays one call's statements on a
connection of its own, in the order they started, inside one transaction that is always
rolled back: the first statement of each fingerprint runs as
``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)``, later writes of an already explained shape
run plainly, so that a statement sees what the writes before it did (the chain's renders
detached before the chain is deleted), and nothing is left behind.  Each EXPLAIN runs in a
savepoint: a statement that fails, or that EXPLAIN cannot take (a utility command such as
``VACUUM`` or ``SET``, several statements in one text, text the parser rejects), is
recorded as not explainable with the reason, and the replay goes on.  The parameters
are bound server-side, as the driver binds them, so the planner makes the same custom plan
for the same values.

Each explained statement also gets ``index_scans``: the indexes its execution scanned,
foreign-key checks included (which a plan does not show), from this session's own counters
(``pg_stat_get_xact_numscans`` of every index in ``pg_stat_user_indexes``), so the scans
other sessions make meanwhile never count.  The planner probes indexes too (the actual
minimum and maximum of a column, for its estimates); the statement is therefore planned
once without running it (plain ``EXPLAIN``) and those probes are taken off.

What the plans show is read by :mod:`dalperf.plans.findings`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
from pglast import ast, parser
from psycopg import sql

from dalperf.capture.fingerprint import to_dollar_params
from dalperf.capture.records import Statement
from dalperf.db import urls
from dalperf.db.targets import Source, Target, connect
from dalperf.errors import DatabaseUnreachable
from dalperf.errors import describe as describe_error
from dalperf.plans.findings import DEFAULT_THRESHOLDS, PlanThresholds, describe

EXPLAIN_PREFIX = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
PLAN_ONLY_PREFIX = "EXPLAIN (FORMAT JSON) "
EXPLAINABLE = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)

_INDEX_SCANS_SQL = ("SELECT schemaname || '.' || indexrelname, "
                    "pg_stat_get_xact_numscans(indexrelid) FROM pg_stat_user_indexes")


@dataclass(frozen=True, kw_only=True)
class Kind:
    """What the parser says about a statement, as far as EXPLAIN is concerned."""

    explainable: bool
    writes: bool
    reason: str | None = None


@lru_cache(maxsize=1024)
def classify(text: str) -> Kind:
    """Whether EXPLAIN can take ``text`` (psycopg or ``$n`` placeholders) and whether it writes."""
    try:
        statements = parser.parse_sql(to_dollar_params(text))
    except parser.ParseError as exc:
        return Kind(explainable=False, writes=False, reason=f"the parser rejects it: {exc}")
    if len(statements) != 1:
        return Kind(explainable=False, writes=False,
                    reason=f"{len(statements)} statements in one text")
    stmt = statements[0].stmt
    if not isinstance(stmt, EXPLAINABLE):
        return Kind(explainable=False, writes=False,
                    reason=f"{type(stmt).__name__} is a utility statement; EXPLAIN takes "
                    "SELECT, INSERT, UPDATE, DELETE and MERGE")
    return Kind(explainable=True, writes=_writes(stmt))


def _writes(stmt: ast.Node) -> bool:
    """A data-modifying statement, or a SELECT with a data-modifying CTE (or INTO)."""
    if isinstance(stmt, WRITES):
        return True
    if isinstance(stmt, ast.SelectStmt) and stmt.intoClause is not None:
        return True
    with_clause = getattr(stmt, "withClause", None)
    return any(_writes(cte.ctequery) for cte in (with_clause.ctes if with_clause else ()))


class Explainer:
    """Replays captured calls on its own connection and explains their statements."""

    def __init__(self, conn: psycopg.Connection,
                 thresholds: PlanThresholds = DEFAULT_THRESHOLDS) -> None:
        self.conn = conn
        self.thresholds = thresholds
        self._rows: dict[str, float | None] = {}

    @classmethod
    @contextmanager
    def open(cls, url: str, thresholds: PlanThresholds = DEFAULT_THRESHOLDS, *,
             read_only: bool = False) -> Iterator[Explainer]:
        """An explainer on a new autocommit connection to ``url``, closed afterwards.

        It never keeps a change (every replay is rolled back), so the target is read-only;
        with ``read_only`` the server refuses writes as well (a database dalperf does not own).
        """
        with connect(Target(url=urls.parse(url), source=Source.URL, writable=False)) as conn:
            if read_only:
                conn.execute("SET default_transaction_read_only = on")
            conn.prepare_threshold = None  # always a custom plan for the values given
            yield cls(conn, thresholds)

    def explain(self, statements: Sequence[Statement]) -> tuple[dict[str, Any], ...]:
        """Replay ``statements`` (one call's, in start order) and explain each new fingerprint:
        one stored plan (or the reason there is none) per fingerprint, in order."""
        try:
            return self._replay(sorted(statements, key=lambda s: s.start_ns))
        except psycopg.OperationalError as exc:
            raise DatabaseUnreachable(f"lost the EXPLAIN connection: {describe_error(exc)}") from exc

    def relation_rows(self, relation: str) -> float | None:
        """``pg_class.reltuples`` of ``relation`` (as the search path finds it); ``None`` if
        unknown or never analysed."""
        if relation not in self._rows:
            name = sql.Identifier(relation).as_string(self.conn)
            row = self.conn.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                                    (name,)).fetchone()
            self._rows[relation] = float(row[0]) if row and row[0] >= 0 else None
        return self._rows[relation]

    def _replay(self, statements: Sequence[Statement]) -> tuple[dict[str, Any], ...]:
        plans: list[dict[str, Any]] = []
        seen: set[str] = set()
        with self.conn.transaction(force_rollback=True):
            for statement in statements:
                kind = classify(statement.sql)
                if statement.fingerprint in seen:
                    if kind.writes:
                        self._execute(statement)
                    continue
                seen.add(statement.fingerprint)
                plans.append(self._explain(statement, kind))
        return tuple(plans)

    def _explain(self, statement: Statement, kind: Kind) -> dict[str, Any]:
        head = {"fingerprint": statement.fingerprint, "sql": statement.sql}
        if not kind.explainable:
            return {**head, "explainable": False, "reason": kind.reason}
        sets = parameter_sets(statement)
        try:
            with self.conn.transaction():
                start = self._index_scans()
                self.conn.execute(PLAN_ONLY_PREFIX + statement.sql, sets[0])
                planned = self._index_scans()
                output = self.conn.execute(EXPLAIN_PREFIX + statement.sql, sets[0]).fetchone()
                done = self._index_scans()
                if kind.writes and len(sets) > 1:
                    self.conn.cursor().executemany(statement.sql, sets[1:])
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            return {**head, "explainable": False, "reason": describe_error(exc)}
        assert output is not None
        return {**head, "explainable": True, "writes": kind.writes,
                **describe(output[0][0], self.relation_rows, self.thresholds),
                "index_scans": _executed_scans(start, planned, done)}

    def _execute(self, statement: Statement) -> None:
        """Run a write of an already explained shape, so later statements see its effect."""
        sets = parameter_sets(statement)
        try:
            with self.conn.transaction():
                self.conn.cursor().executemany(statement.sql, sets)
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            pass  # it failed in the call too, or depends on state the replay lacks

    def _index_scans(self) -> dict[str, int]:
        """This session's scans of each user index so far (not yet flushed to shared stats)."""
        return {name: int(count) for name, count in self.conn.execute(_INDEX_SCANS_SQL)}


def _executed_scans(start: dict[str, int], planned: dict[str, int],
                    done: dict[str, int]) -> dict[str, int]:
    """Scans by the execution alone: what EXPLAIN ANALYZE added, less one planning's probes."""
    scans = {}
    for name, count in sorted(done.items()):
        probes = planned.get(name, 0) - start.get(name, 0)
        executed = count - planned.get(name, 0) - probes
        if executed > 0:
            scans[name] = executed
    return scans


def parameter_sets(statement: Statement) -> list[Any]:
    """The parameter sets the driver got: one for ``execute``, each of an ``executemany``."""
    if statement.executemany and isinstance(statement.parameters, list | tuple):
        return list(statement.parameters) or [None]
    return [statement.parameters]
