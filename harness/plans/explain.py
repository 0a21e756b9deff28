"""EXPLAIN the statements an operation sent, replayed with the parameters it sent them with.

A capture knows every statement of a call and its parameters as the driver got them
(psycopg's ``%(name)s`` style).  :class:`Explainer` replays one call's statements on a
connection of its own, in the order they started, inside one transaction that is always
rolled back: every execution of an explainable statement (each parameter set of an
``executemany`` too) runs as ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)``, so that a
statement sees what the writes before it did (the chain's renders detached before the
chain is deleted), and nothing is left behind.  The first execution of each fingerprint
gives the stored plan and its shape (:mod:`dalperf.plans.shape`); every execution adds its
buffers and rows read to the fingerprint's ``work``, so the works of a call's plans add up
to the server's work for the whole call, N+1 repetitions included.  Each EXPLAIN runs in a
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
from dalperf.db.targets import Target, connect
from dalperf.errors import DatabaseUnreachable
from dalperf.errors import describe as describe_error
from dalperf.plans.findings import DEFAULT_THRESHOLDS, PlanThresholds, describe
from dalperf.plans.shape import add_work, plan_shape, work_of

EXPLAIN_PREFIX = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
PLAN_ONLY_PREFIX = "EXPLAIN (FORMAT JSON) "
EXPLAINABLE = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)

_INDEX_SCANS_SQL = (
    "SELECT schemaname || '.' || indexrelname, "
    "pg_stat_get_xact_numscans(indexrelid) FROM pg_stat_user_indexes"
)


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
        return Kind(
            explainable=False, writes=False, reason=f"{len(statements)} statements in one text"
        )
    stmt = statements[0].stmt
    if not isinstance(stmt, EXPLAINABLE):
        return Kind(
            explainable=False,
            writes=False,
            reason=f"{type(stmt).__name__} is a utility statement; EXPLAIN takes "
            "SELECT, INSERT, UPDATE, DELETE and MERGE",
        )
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

    def __init__(
        self, conn: psycopg.Connection, thresholds: PlanThresholds = DEFAULT_THRESHOLDS
    ) -> None:
        self.conn = conn
        self.thresholds = thresholds
        self._rows: dict[str, float | None] = {}

    @classmethod
    @contextmanager
    def open(
        cls,
        target: Target,
        thresholds: PlanThresholds = DEFAULT_THRESHOLDS,
        *,
        read_only: bool = False,
    ) -> Iterator[Explainer]:
        """An explainer on a new autocommit connection to ``target``, closed afterwards.

        It never keeps a change (every replay is rolled back), so the target is read-only;
        with ``read_only`` the server refuses writes as well (a database dalperf does not own).
        """
        with connect(target) as conn:
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
            raise DatabaseUnreachable(
                f"lost the EXPLAIN connection: {describe_error(exc)}"
            ) from exc

    def relation_rows(self, relation: str) -> float | None:
        """``pg_class.reltuples`` of ``relation`` (as the search path finds it); ``None`` if
        unknown or never analysed."""
        if relation not in self._rows:
            name = sql.Identifier(relation).as_string(self.conn)
            row = self.conn.execute(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (name,)
            ).fetchone()
            self._rows[relation] = float(row[0]) if row and row[0] >= 0 else None
        return self._rows[relation]

    def _replay(self, statements: Sequence[Statement]) -> tuple[dict[str, Any], ...]:
        plans: dict[str, dict[str, Any]] = {}
        with self.conn.transaction(force_rollback=True):
            for statement in statements:
                stored = plans.get(statement.fingerprint)
                if stored is None:
                    plans[statement.fingerprint] = self._explain(statement, classify(statement.sql))
                elif stored["explainable"]:
                    stored["work"] = add_work(
                        stored["work"], self._analyse(parameter_sets(statement), statement)
                    )
        return tuple(plans.values())

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
                output = self._explain_analyse(statement.sql, sets[0])
                done = self._index_scans()
                work = add_work(work_of(output), self._analyse(sets[1:], statement))
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            return {**head, "explainable": False, "reason": describe_error(exc)}
        return {
            **head,
            "explainable": True,
            "writes": kind.writes,
            **describe(output, self.relation_rows, self.thresholds),
            "shape": plan_shape(output["Plan"]),
            "work": work,
            "index_scans": _executed_scans(start, planned, done),
        }

    def _explain_analyse(self, text: str, parameters: Any) -> dict[str, Any]:
        row = self.conn.execute(EXPLAIN_PREFIX + text, parameters).fetchone()
        assert row is not None
        return dict(row[0][0])

    def _analyse(self, sets: Sequence[Any], statement: Statement) -> dict[str, int]:
        """Run ``sets`` of an already explained statement under EXPLAIN ANALYZE, so later
        statements see their effect; their added work (nothing when one fails: it failed in
        the call too, or depends on state the replay lacks)."""
        total: dict[str, int] = {}
        for parameters in sets:
            try:
                with self.conn.transaction():
                    total = add_work(
                        total, work_of(self._explain_analyse(statement.sql, parameters))
                    )
            except psycopg.OperationalError:
                raise
            except psycopg.Error:
                pass
        return total

    def _index_scans(self) -> dict[str, int]:
        """This session's scans of each user index so far (not yet flushed to shared stats)."""
        return {name: int(count) for name, count in self.conn.execute(_INDEX_SCANS_SQL)}


def _executed_scans(
    start: dict[str, int], planned: dict[str, int], done: dict[str, int]
) -> dict[str, int]:
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
