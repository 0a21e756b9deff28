"""The plugin's missing-index check (``--dalperf-index-check warn|fail``).

After a test body ends, outside its capture (so nothing here counts in the test's figures),
each distinct SELECT the body sent is planned again with the parameters it was sent with,
by plain ``EXPLAIN`` (nothing executed) on the database the statement's engine points
at: through an idle connection of that engine's pool (sync psycopg 3 engines with a
queue pool), else a connection of its own.  A plan asks for an index when, on a table of more than
``dalperf_index_min_rows`` rows (``pg_class.reltuples``: the table must have been
analysed),

- a sequential scan's filter keeps at most :data:`~dalperf.plans.index_audit.SELECTIVE_FRACTION`
  of the table (the planner's estimate), or
- a sort under a ``Limit`` (a top-N query) orders the rows of a sequential scan, which an
  index in the sort's order would end early.

Such a statement goes to the index advisor (:func:`dalperf.plans.advisor.advise`), which
builds every candidate index for real in a transaction that is rolled back and keeps one
only when ``EXPLAIN (ANALYZE, BUFFERS)`` shows the planner using it with time and buffers
at least halved.  A kept index is a ``missing-index`` finding: the statement, its call
site, the plan line, the ``CREATE INDEX CONCURRENTLY`` and the Alembic ``op.create_index``
line, and the buffers and time before and after.  No index proved: no finding.  A
statement shape is proved once per database and session; later tests that send it reuse
the proof (their own plans are still checked).

On a database dalperf does not own (it did not create it: no ``created by dalperf``
comment), nothing is built: the candidate read off the plan is reported as not proved,
and the terminal summary says so once per database.

Which engine sent a statement, and from which line of the application (the capture
samples call sites, so a statement sent once may have none), is learnt from SQLAlchemy's
``before_cursor_execute`` event: a class-level listener installed with the first checked
test and removed at the end of the session, which costs nothing when the check is off.
Statements of drivers whose placeholders psycopg cannot bind (asyncpg's ``$1``) are not
checked.

This module is imported only when the check is on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from dalperf.capture.callsite import call_site
from dalperf.capture.records import Statement
from dalperf.db import urls
from dalperf.db.targets import Target, connect, provide
from dalperf.errors import DalperfError
from dalperf.errors import describe as describe_error
from dalperf.plans.advisor import AdvisorConfig, CapturedCall, advise
from dalperf.plans.candidates import candidates
from dalperf.plans.explain import PLAN_ONLY_PREFIX, Explainer, classify, parameter_sets
from dalperf.plans.findings import SEQ_SCAN, SORT_NODES, PlanThresholds, describe, walk
from dalperf.plans.index_audit import SELECTIVE_FRACTION, Catalog
from dalperf.plans.shape import shape_line
from dalperf.pytest_support.recorder import SQL_SHOWN, relative_site, split_site
from dalperf.pytest_support.settings import ALLOW_MARKER, Settings

if TYPE_CHECKING:
    from dalperf.pytest_support.recorder import BodyRecorder
    from dalperf.pytest_support.suite import TestRecord

BINDABLE = ("pyformat", "format")  # paramstyles whose statements psycopg binds as sent
PASS_THROUGH = frozenset({"Materialize", "Gather", "Gather Merge", "Memoize"})
_CHECK = pytest.StashKey["SessionCheck"]()


class IndexKind(StrEnum):
    """The finding kind of this check, alongside :class:`dalperf.capture.findings.FindingKind`."""

    MISSING_INDEX = "missing-index"


@dataclass(frozen=True, kw_only=True)
class IndexFinding:
    """A missing index: the fields of :class:`dalperf.capture.findings.Finding` (so the
    baseline, allow marker, JSON and SARIF treat it like the other kinds) and the proof."""

    kind: IndexKind
    label: str  # "items (category)": the table and the index's key columns
    count: int
    objects: int
    call_site: str | None
    sql: str
    fix: str  # the CREATE INDEX CONCURRENTLY statement
    message: str
    db_ms: float
    plan_line: str
    alembic: str
    proved: bool  # built and measured (False: explain only, on a database dalperf does not own)
    table_rows: float
    before_buffers: int | None = None
    after_buffers: int | None = None
    before_ms: float | None = None
    after_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["db_ms"] = round(self.db_ms, 3)
        return data


@dataclass(frozen=True, kw_only=True)
class Problem:
    """What a plain EXPLAIN showed: the node that asks for an index and why."""

    table: str
    table_rows: float
    plan_line: str
    reason: str


def session_check(config: pytest.Config, settings: Settings) -> SessionCheck:
    """The session's check, created (and its listener installed) by the first test."""
    check = config.stash.get(_CHECK, None)
    if check is None:
        check = config.stash[_CHECK] = SessionCheck(settings)
    check.sites.clear()  # a new body: call sites are learnt again
    return check


def close(config: pytest.Config) -> None:
    """Remove the session's listener, if a test installed one."""
    check = config.stash.get(_CHECK, None)
    if check is not None:
        check.close()


def summary_lines(config: pytest.Config) -> list[str]:
    """The terminal summary's lines: explain-only databases and the check's cost."""
    check = config.stash.get(_CHECK, None)
    return check.summary() if check is not None else []


class SessionCheck:
    """The engines seen, the databases' ownership, and what the check cost, for a session."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.thresholds = PlanThresholds(seq_scan_rows=settings.index_min_rows)
        self.engines: dict[int, Engine] = {}  # id(driver connection) -> its engine
        self.sites: dict[str, str | None] = {}  # SELECT text -> where this body first sent it
        self.targets: dict[str, Target] = {}  # engine URL -> target (writable: owned)
        self.explain_only: list[str] = []  # masked URLs of databases dalperf does not own
        self.errors: list[str] = []
        # (database, fingerprint) -> the advisor's proposal (None: no index proved); a shape
        # is proved once per database and session, and later tests reuse the proof
        self.proofs: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.tests = 0
        self.planned = 0
        self.seconds = 0.0
        event.listen(Engine, "before_cursor_execute", self._executing)

    def close(self) -> None:
        if event.contains(Engine, "before_cursor_execute", self._executing):
            event.remove(Engine, "before_cursor_execute", self._executing)

    def _executing(
        self,
        connection: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        # a cursor is executing: the connection is checked out and valid
        self.engines[id(connection.connection.driver_connection)] = connection.engine
        if statement not in self.sites and statement.lstrip()[:6].upper().startswith(
            ("SELECT", "WITH")
        ):
            found = call_site()
            self.sites[statement] = found[0] if found is not None else None

    # the check of one test body

    def apply(self, recorder: BodyRecorder, record: TestRecord, failure: str | None) -> str | None:
        """Check the body ``recorder`` captured, add its findings to ``record``, and return
        the test's failure message (``failure`` with the new findings' added in fail mode)."""
        started = time.perf_counter()
        try:
            found = self.check(recorder.capture.statements, recorder.item.nodeid)
        finally:
            self.tests += 1
            self.seconds += time.perf_counter() - started
        if not found:
            return failure
        root = recorder.item.config.rootpath
        statuses = [recorder._status(f) for f in found]  # type: ignore[arg-type]
        for finding, status in zip(found, statuses, strict=True):
            data = finding.to_dict()
            data["call_site"] = relative_site(finding.call_site, root)
            path, line = split_site(data["call_site"])
            data.update(status=status, file=path, line=line)
            record.findings.append(data)
        new = [f for f, s in zip(found, statuses, strict=True) if s == "new"]
        if not new:
            return failure
        message = self.message(new, root)
        if self.settings.index_check == "fail":
            return f"{failure}\n{message}" if failure else message
        recorder._warn(message)
        return failure

    def check(self, statements: Sequence[Statement], test: str) -> list[IndexFinding]:
        """The missing-index findings of one body's statements."""
        by_url: dict[str, list[Statement]] = {}
        engines: dict[str, Engine] = {}
        seen: set[str] = set()
        for statement in sorted(statements, key=lambda s: s.start_ns):
            engine = self.engines.get(statement.connection)
            if (
                engine is None
                or statement.error
                or statement.executemany
                or engine.dialect.paramstyle not in BINDABLE
                or not _is_select(statement.sql)
                or statement.fingerprint in seen
            ):
                continue
            seen.add(statement.fingerprint)
            url = engine.url.render_as_string(hide_password=False)
            by_url.setdefault(url, []).append(statement)
            engines.setdefault(url, engine)
        found: list[IndexFinding] = []
        for url, selects in by_url.items():
            try:
                target = self._target(url, engines[url])
                found += self._check_database(engines[url], target, selects, test)
            except (DalperfError, psycopg.OperationalError) as exc:
                note = f"{urls.masked(url)}: {urls.redact(describe_error(exc))}"
                if note not in self.errors:
                    self.errors.append(note)
        return found

    def _target(self, url: str, engine: Engine) -> Target:
        """The target of the engine whose URL renders as ``url`` (its password kept)."""
        target = self.targets.get(url)
        if target is None:
            parsed = urls.ParsedUrl(urls.normalise(engine.url), None)
            with provide(database_url=parsed) as target:
                self.targets[url] = target
            if not target.writable:
                self.explain_only.append(target.display_url)
        return target

    def _check_database(
        self, engine: Engine, target: Target, selects: Sequence[Statement], test: str
    ) -> list[IndexFinding]:
        asking: list[tuple[Statement, Problem, dict[str, Any]]] = []
        with _planning_connection(engine, target) as conn:
            explainer = Explainer(conn, self.thresholds)
            for statement, plan in zip(selects, self._plans(conn, explainer, selects), strict=True):
                if plan is None:
                    continue
                self.planned += 1
                problem = screen(plan, self.thresholds.seq_scan_rows)
                if problem is not None:
                    asking.append((statement, problem, plan))
            if not target.writable:
                if not asking:
                    return []
                catalog = Catalog.read(conn)
                return [
                    f
                    for s, p, plan in asking
                    if (f := self._unproved(s, p, plan, catalog)) is not None
                ]
        return [f for s, p, _ in asking if (f := self._proved(target, s, p, test)) is not None]

    def _plans(
        self, conn: psycopg.Connection, explainer: Explainer, selects: Sequence[Statement]
    ) -> list[dict[str, Any] | None]:
        """The stored form of each statement's plain EXPLAIN (None: it cannot be planned).

        All of a body's statements are planned in one transaction that is rolled back (one
        BEGIN and one ROLLBACK per test, not per statement); a statement that cannot be
        planned aborts it, and the rest are planned in a new one.
        """
        plans: list[dict[str, Any] | None] = []
        while len(plans) < len(selects):
            try:
                with conn.transaction(force_rollback=True):
                    for statement in selects[len(plans) :]:
                        row = conn.execute(
                            PLAN_ONLY_PREFIX + statement.sql, parameter_sets(statement)[0]
                        ).fetchone()
                        assert row is not None
                        plans.append(
                            {
                                "explainable": True,
                                **describe(row[0][0], explainer.relation_rows, self.thresholds),
                            }
                        )
            except psycopg.OperationalError:
                raise
            except psycopg.Error:
                # depends on state the body had (a temporary table, a rolled-back row)
                plans.append(None)
        return plans

    def _proved(
        self, target: Target, statement: Statement, problem: Problem, test: str
    ) -> IndexFinding | None:
        key = (target.libpq_url, statement.fingerprint)
        if key not in self.proofs:
            advice = advise(
                [CapturedCall(operation=test, variant="test body", statements=(statement,))],
                target,
                AdvisorConfig(thresholds=self.thresholds),
            )
            self.proofs[key] = advice["proposals"][0] if advice["proposals"] else None
        proposal = self.proofs[key]
        if proposal is None:
            return None
        proof = proposal["statements"][0]
        label = f"{proposal['table']} ({', '.join(proposal['columns'])})"
        message = (
            f"{problem.reason}; the index {proposal['name']} on {label} cut the buffers "
            f"touched from {proof['before_buffers']:,} to {proof['after_buffers']:,} and "
            f"the execution from {proof['before_ms']:.2f} to {proof['after_ms']:.2f} ms "
            "(built and measured in a transaction that was rolled back)"
        )
        return IndexFinding(
            kind=IndexKind.MISSING_INDEX,
            label=label,
            count=1,
            objects=1,
            call_site=self._site(statement),
            sql=statement.sql,
            fix=proposal["create"],
            message=message,
            db_ms=statement.duration_ms,
            plan_line=problem.plan_line,
            alembic=proposal["alembic"],
            proved=True,
            table_rows=problem.table_rows,
            before_buffers=proof["before_buffers"],
            after_buffers=proof["after_buffers"],
            before_ms=proof["before_ms"],
            after_ms=proof["after_ms"],
        )

    def _unproved(
        self, statement: Statement, problem: Problem, plan: Mapping[str, Any], catalog: Catalog
    ) -> IndexFinding | None:
        wanted = candidates(plan, statement.sql, catalog.indexes, self.thresholds)
        if not wanted:
            return None  # an existing index already starts with the columns
        first = wanted[0]
        label = f"{first.table} ({', '.join(first.columns)})"
        return IndexFinding(
            kind=IndexKind.MISSING_INDEX,
            label=label,
            count=1,
            objects=1,
            call_site=self._site(statement),
            sql=statement.sql,
            fix=first.create_sql(concurrently=True) + ";",
            message=(
                f"{problem.reason}; candidate index on {label}, not built: explain "
                "only, dalperf did not create this database"
            ),
            db_ms=statement.duration_ms,
            plan_line=problem.plan_line,
            alembic=first.alembic(),
            proved=False,
            table_rows=problem.table_rows,
        )

    def _site(self, statement: Statement) -> str | None:
        return statement.call_site or self.sites.get(statement.sql)

    # messages

    @staticmethod
    def message(new: Sequence[IndexFinding], root: Any) -> str:
        """The failure (or warning) text of a body's new missing-index findings."""
        from dalperf.gate.budgets import shorten_sql

        noun = "finding" if len(new) == 1 else "findings"
        lines = [f"dalperf: {len(new)} missing-index {noun}"]
        for finding in new:
            lines.append(f"  {finding.message}")
            if finding.call_site:
                lines.append(f"    at {relative_site(finding.call_site, root)}")
            lines.append(f"    plan: {finding.plan_line}")
            lines.append(f"    sql: {shorten_sql(finding.sql, SQL_SHOWN)}")
            lines.append(f"    fix: {finding.fix}")
            lines.append(f"    alembic: {finding.alembic}")
        labels = ", ".join(f'"missing-index:{f.label}"' for f in new)
        lines.append(
            f"  accept instead: @pytest.mark.{ALLOW_MARKER}({labels}), or record "
            "them with --dalperf-baseline FILE --dalperf-update-baseline"
        )
        return "\n".join(lines)

    def summary(self) -> list[str]:
        lines = [
            f"dalperf: index check on {url}: explain only (not a database dalperf "
            "created), no candidate index was built"
            for url in self.explain_only
        ]
        lines += [f"dalperf: index check could not plan on {note}" for note in self.errors]
        if self.tests:
            lines.append(
                f"dalperf: index check: {self.planned} SELECT plan(s) in {self.tests} "
                f"test(s), {self.seconds * 1000 / self.tests:.1f} ms added per test"
            )
        return lines


@contextmanager
def _planning_connection(engine: Engine, target: Target) -> Iterator[psycopg.Connection]:
    """A psycopg 3 connection to plan on, with custom plans for the values given: an idle
    one of the engine's own queue pool when it is a sync psycopg 3 engine (a warm server
    session, no connection set-up per test), else a new one, closed afterwards.

    Only an idle connection of a :class:`~sqlalchemy.pool.QueuePool` is borrowed: a pool
    that hands out one shared connection (``StaticPool``) may hold a fixture's open
    transaction, which the pool's reset would roll back, and an empty pool would make
    the check wait or open a connection the application then keeps.
    """
    pool = engine.pool
    if (
        engine.dialect.driver != "psycopg"
        or engine.dialect.is_async
        or not isinstance(pool, QueuePool)
        or pool.checkedin() == 0
    ):
        with connect(target) as conn:
            conn.prepare_threshold = None
            yield conn
        return
    pooled = engine.raw_connection()
    try:
        conn = cast(Any, pooled.driver_connection)  # a psycopg connection: the engine's driver
        kept = conn.prepare_threshold
        conn.prepare_threshold = None
        try:
            yield conn
        finally:
            conn.prepare_threshold = kept
    finally:
        pooled.close()  # back to the pool, whose reset rolls back what was left open


def _is_select(sql: str) -> bool:
    head = sql.lstrip()[:6].upper()
    if not head.startswith(("SELECT", "WITH")):
        return False
    kind = classify(sql)
    return kind.explainable and not kind.writes


def screen(plan: Mapping[str, Any], min_rows: int) -> Problem | None:
    """The first node of a stored plain-EXPLAIN plan that asks for an index, or None."""
    relations = plan["relations"]
    for node, _, below_limit in walk(plan["plan"]):
        node_type = node.get("Node Type")
        if node_type == SEQ_SCAN and "Filter" in node:
            table = node["Relation Name"]
            rows = relations.get(table)
            kept = float(node.get("Plan Rows", 0))
            if rows is not None and rows > min_rows and kept <= SELECTIVE_FRACTION * rows:
                return Problem(
                    table=table,
                    table_rows=rows,
                    plan_line=f"{shape_line(node)}  Filter: {node['Filter']}  "
                    f"(estimated {kept:,.0f} of {rows:,.0f} rows kept)",
                    reason=(
                        f"a sequential scan of {table} ({rows:,.0f} rows) whose filter "
                        f"keeps an estimated {kept:,.0f}"
                    ),
                )
        if node_type in SORT_NODES and below_limit:
            scan = _scan_below(node)
            if scan is None:
                continue
            table = scan["Relation Name"]
            rows = relations.get(table)
            if rows is not None and rows > min_rows:
                keys = ", ".join(node.get("Sort Key", ()))
                return Problem(
                    table=table,
                    table_rows=rows,
                    plan_line=f"{shape_line(node)}  Sort Key: {keys}  over {shape_line(scan)}",
                    reason=(
                        f"a top-N sort of all {rows:,.0f} rows of {table} (a sequential "
                        f"scan) that an index in the order {keys} would end early"
                    ),
                )
    return None


def _scan_below(sort: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The sequential scan whose rows ``sort`` orders, through nodes that pass rows on."""
    node = sort
    while True:
        children: Sequence[Mapping[str, Any]] = node.get("Plans") or ()
        if len(children) != 1:
            return None
        node = children[0]
        if node.get("Node Type") == SEQ_SCAN:
            return node
        if node.get("Node Type") not in PASS_THROUGH:
            return None
