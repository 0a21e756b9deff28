"""The index advisor: propose the missing index, and prove it on real plans with real indexes.

:func:`advise` takes captured calls (each one call's statements, with the parameters the
driver got) and a :class:`~dalperf.db.targets.Target`:

1. every statement shape is explained as the run explains it
   (:class:`~dalperf.plans.explain.Explainer`), and :mod:`dalperf.plans.candidates` reads
   the candidate indexes off each plan;
2. each candidate is built for real: ``BEGIN; SET LOCAL lock_timeout, statement_timeout;
   CREATE INDEX; EXPLAIN (ANALYZE, BUFFERS)`` the statement with the same parameters (the
   call's earlier writes replayed first, each statement run once to warm the cache, then
   measured); ``ROLLBACK``.  The statement's plan without the candidate is measured the
   same way.  PostgreSQL's DDL is transactional: the index is real while it exists and gone
   after the rollback, also when the build fails or times out (recorded as *not tested*
   with the reason; the advisor goes on);
3. a candidate is *kept* when the new plan uses it and both execution time and buffers
   touched (shared hit + read) fall by at least ``min_time_gain`` and ``min_buffer_gain``
   (a fraction, 0.5 by default).  Kept candidates of one statement compete: the best
   one-column one wins unless a wider one beats it on both time and buffers;
4. each proposal is priced (``pg_relation_size`` inside the transaction, and through a
   ``price`` callback, the write cost :mod:`dalperf.measure.workload` measures), and the
   redundant indexes of the catalog (duplicates, prefix-covered, and unused ones the
   run's writes pay for) are listed with their size, write cost and ``DROP INDEX`` line.

Only on a database dalperf owns or one marked disposable (:attr:`Target.writable`): on
any other, plans are explained and candidates listed, nothing is built, and the advice
says so in one line (``note``).  The advice is JSON-ready data in the results file's
``advice`` section (:data:`ADVICE_VERSION`; shape in :mod:`dalperf.results.model`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from pglast import parse_sql
from pglast.parser import ParseError
from pglast.visitors import Visitor
from psycopg import sql

from dalperf.capture.fingerprint import to_dollar_params
from dalperf.capture.records import Statement
from dalperf.db.targets import Target, connect
from dalperf.errors import DatabaseUnreachable
from dalperf.errors import describe as describe_error
from dalperf.plans.candidates import Candidate, candidates
from dalperf.plans.explain import EXPLAIN_PREFIX, Explainer, classify, parameter_sets
from dalperf.plans.findings import DEFAULT_THRESHOLDS, PlanThresholds, describe
from dalperf.plans.index_audit import Catalog, Index, overlaps
from dalperf.results.model import ADVICE_VERSION

DEFAULT_MIN_GAIN = 0.5
DEFAULT_LOCK_TIMEOUT_MS = 2_000
DEFAULT_STATEMENT_TIMEOUT_MS = 30_000
DEFAULT_WRITE_REPEATS = 3
KEPT, REJECTED, NOT_TESTED = "kept", "rejected", "not tested"


@dataclass(frozen=True, kw_only=True)
class AdvisorConfig:
    """How the advisor judges and how long it waits; defaults are the named constants."""

    min_time_gain: float = DEFAULT_MIN_GAIN  # execution time must fall by this fraction
    min_buffer_gain: float = DEFAULT_MIN_GAIN  # buffers touched must fall by this fraction
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    write_repeats: int = DEFAULT_WRITE_REPEATS  # calls per index state when pricing writes
    thresholds: PlanThresholds = DEFAULT_THRESHOLDS


@dataclass(frozen=True, kw_only=True)
class CapturedCall:
    """One call of an operation's variant: its statements, in the order they started."""

    operation: str
    variant: str
    statements: tuple[Statement, ...]

    @property
    def where(self) -> str:
        return f"{self.operation} [{self.variant}]"


DEFAULT_CONFIG = AdvisorConfig()
# (setup SQL run before the calls "with", table) -> one row per writer: operation, variant,
# calls, with_setup_ms, without_setup_ms (medians of database time), error
Pricer = Callable[[str, str], list[dict[str, Any]]]


class NotTested(Exception):
    """A candidate that could not be measured (build failed, timed out); the reason."""


def advise(
    calls: Sequence[CapturedCall],
    target: Target,
    config: AdvisorConfig = DEFAULT_CONFIG,
    *,
    price: Pricer | None = None,
    used: set[str] | None = None,
) -> dict[str, Any]:
    """The advice for ``calls`` on ``target``: the core the pipeline and a plugin call.

    ``price`` measures what an index costs the run's writes (none: not priced); ``used``
    names the indexes the run used (default: those the explained plans use), for the
    unused-index part of the redundant indexes.
    """
    started = time.perf_counter()
    try:
        with connect(target) as conn:
            conn.prepare_threshold = None  # a custom plan for the values given, as the run
            advisor = _Advisor(conn, config, build=target.writable)
            statements = advisor.statements(calls)
            catalog = advisor.catalog
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(f"lost the advisor's connection: {describe_error(exc)}") from exc
    proposals = _proposals(statements)
    pricer = price if target.writable else None
    for proposal in proposals:
        setup = Candidate(
            table=proposal["table"],
            columns=tuple(proposal["columns"]),
            include=tuple(proposal["include"]),
            given_name=proposal["name"],
        ).create_sql()
        proposal["write_cost"] = (
            cost_rows(pricer(setup, proposal["table"]), setup_adds=True) if pricer else []
        )
    plans_used = {i["index"] for s in statements for i in s["before"]["findings"]["indexes"]}
    written = {t for call in calls for t in tables_written(call.statements)}
    redundant = _redundant(catalog, used if used is not None else plans_used, written, pricer)
    return {
        "version": ADVICE_VERSION,
        "built": target.writable,
        "note": None
        if target.writable
        else (
            f"explain only: {target.display_url} is not a database dalperf created nor one "
            "marked disposable (--disposable), so no candidate index was built"
        ),
        "config": {
            **{k: v for k, v in asdict(config).items() if k != "thresholds"},
            "seq_scan_rows": config.thresholds.seq_scan_rows,
        },
        "candidates_built": advisor.built,
        "elapsed_s": round(time.perf_counter() - started, 3),
        "statements": statements,
        "proposals": proposals,
        "redundant": redundant,
    }


class _Advisor:
    """Explains, builds and measures on one connection; counts the candidates it built."""

    def __init__(self, conn: psycopg.Connection, config: AdvisorConfig, *, build: bool) -> None:
        self.conn = conn
        self.config = config
        self.build = build
        self.explainer = Explainer(conn, config.thresholds)
        self.catalog = Catalog.read(conn)
        self.built = 0

    def statements(self, calls: Sequence[CapturedCall]) -> list[dict[str, Any]]:
        """One entry per statement shape whose plan asks for an index."""
        entries: dict[str, dict[str, Any]] = {}
        for call in calls:
            ordered = sorted(call.statements, key=lambda s: s.start_ns)
            for plan in self.explainer.explain(ordered):
                fingerprint = plan["fingerprint"]
                if fingerprint in entries:
                    entries[fingerprint]["operations"].append(call.where)
                    continue
                wanted = candidates(plan, plan["sql"], self.catalog.indexes, self.config.thresholds)
                if not wanted:
                    continue
                position = next(i for i, s in enumerate(ordered) if s.fingerprint == fingerprint)
                entries[fingerprint] = self._judge(ordered, position, plan, wanted, call.where)
        return list(entries.values())

    def _judge(
        self,
        statements: Sequence[Statement],
        position: int,
        plan: dict[str, Any],
        wanted: Sequence[Candidate],
        where: str,
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "fingerprint": plan["fingerprint"],
            "sql": plan["sql"],
            "operations": [where],
            "reasons": list(dict.fromkeys(r for c in wanted for r in c.reasons)),
            "before": plan,
            "candidates": [],
            "proposal": None,
        }
        if not self.build:
            entry["candidates"] = [
                {
                    **c.as_dict(),
                    "status": NOT_TESTED,
                    "reason": "explain only: the database may not be written",
                }
                for c in wanted
            ]
            return entry
        try:
            before, _ = self._measure(statements, position, None)
        except NotTested as exc:  # the statement itself fails or times out now
            entry["candidates"] = [
                {**c.as_dict(), "status": NOT_TESTED, "reason": str(exc)} for c in wanted
            ]
            return entry
        entry["before"] = before
        for candidate in wanted:
            entry["candidates"].append(self._try(statements, position, candidate, before))
        winner = _winner(entry["candidates"])
        entry["proposal"] = winner["name"] if winner else None
        return entry

    def _try(
        self,
        statements: Sequence[Statement],
        position: int,
        candidate: Candidate,
        before: dict[str, Any],
    ) -> dict[str, Any]:
        result: dict[str, Any] = {
            **candidate.as_dict(),
            "status": NOT_TESTED,
            "reason": None,
            "after": None,
            "size_bytes": None,
        }
        try:
            after, size = self._measure(statements, position, candidate)
        except NotTested as exc:
            result["reason"] = str(exc)
            return result
        time_gain = _gain(before["execution_ms"], after["execution_ms"])
        buffer_gain = _gain(_touched(before), _touched(after))
        uses = any(i["index"] == candidate.name for i in after["findings"]["indexes"])
        keep = (
            uses
            and time_gain >= self.config.min_time_gain
            and buffer_gain >= self.config.min_buffer_gain
        )
        result.update(
            status=KEPT if keep else REJECTED,
            after=after,
            size_bytes=size,
            uses_index=uses,
            time_gain=round(time_gain, 4),
            buffer_gain=round(buffer_gain, 4),
            reason=None if keep else _rejection(uses, time_gain, buffer_gain, self.config),
        )
        return result

    def _measure(
        self, statements: Sequence[Statement], position: int, candidate: Candidate | None
    ) -> tuple[dict[str, Any], int | None]:
        """The statement's stored plan (second of two runs) and the candidate's size, in a
        transaction that is rolled back whatever happens."""
        target = statements[position]
        size = None
        try:
            with self._rolled_back():
                if candidate is not None:
                    self.conn.execute(candidate.create_sql())
                    self.built += 1
                    size = int(
                        self.conn.execute(
                            "SELECT pg_relation_size(%s::regclass)", (candidate.name,)
                        ).fetchone()[0]  # type: ignore[index]
                    )
                for earlier in statements[:position]:
                    if classify(earlier.sql).writes:
                        self._replay(earlier)
                output = None
                for _ in range(2):  # the first run warms the cache, the second is measured
                    with self.conn.transaction(force_rollback=True):
                        output = self.conn.execute(
                            EXPLAIN_PREFIX + target.sql, parameter_sets(target)[0]
                        ).fetchone()
        except psycopg.OperationalError as exc:
            if exc.sqlstate is None:
                raise
            raise NotTested(describe_error(exc)) from exc
        except psycopg.Error as exc:
            raise NotTested(describe_error(exc)) from exc
        assert output is not None
        plan = describe(output[0][0], self.explainer.relation_rows, self.config.thresholds)
        return {
            "fingerprint": target.fingerprint,
            "sql": target.sql,
            "explainable": True,
            **plan,
        }, size

    @contextmanager
    def _rolled_back(self) -> Iterator[None]:
        with self.conn.transaction(force_rollback=True):
            self.conn.execute(
                "SELECT set_config('lock_timeout', %s, true), "
                "set_config('statement_timeout', %s, true)",
                (f"{self.config.lock_timeout_ms}ms", f"{self.config.statement_timeout_ms}ms"),
            )
            yield

    def _replay(self, statement: Statement) -> None:
        try:
            with self.conn.transaction():
                self.conn.cursor().executemany(statement.sql, parameter_sets(statement))
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            pass  # it failed in the call too, or depends on state the replay lacks


def _touched(plan: Mapping[str, Any]) -> int:
    return int(plan["buffers"]["shared_hit"]) + int(plan["buffers"]["shared_read"])


def _gain(before: float, after: float) -> float:
    """The fraction by which a figure fell (negative: it rose)."""
    return 0.0 if before <= 0 else (before - after) / before


def _rejection(uses: bool, time_gain: float, buffer_gain: float, config: AdvisorConfig) -> str:
    if not uses:
        return "the planner did not use it"
    return (
        f"execution time fell by {time_gain:.0%} (needs {config.min_time_gain:.0%}), "
        f"buffers by {buffer_gain:.0%} (needs {config.min_buffer_gain:.0%})"
    )


def _winner(tried: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The best one-column kept candidate, unless a wider kept one beats it on both
    execution time and buffers; the fastest wider one when no one-column one was kept."""
    kept = [c for c in tried if c["status"] == KEPT]
    if not kept:
        return None

    def figures(c: dict[str, Any]) -> tuple[float, int]:
        return c["after"]["execution_ms"], _touched(c["after"])

    single = [c for c in kept if len(c["columns"]) == 1 and not c["include"]]
    wider = sorted((c for c in kept if c not in single), key=figures)
    if not single:
        return wider[0]
    best = min(single, key=figures)
    beating = [
        c for c in wider if figures(c)[0] < figures(best)[0] and figures(c)[1] < figures(best)[1]
    ]
    if beating:
        winner = beating[0]
        best["reason"] = f"{winner['name']} beat it on time and buffers"
        return winner
    for c in wider:
        c["reason"] = f"did not beat the one-column {best['name']} on both time and buffers"
    return best


def _proposals(statements: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One proposal per winning index, with the statements and operations it serves."""
    found: dict[str, dict[str, Any]] = {}
    for entry in statements:
        if entry["proposal"] is None:
            continue
        won = next(c for c in entry["candidates"] if c["name"] == entry["proposal"])
        proposal = found.setdefault(
            won["name"],
            {
                **{
                    k: won[k]
                    for k in (
                        "name",
                        "table",
                        "columns",
                        "include",
                        "create",
                        "alembic",
                        "size_bytes",
                    )
                },
                "statements": [],
                "operations": [],
            },
        )
        proposal["statements"].append(
            {
                "fingerprint": entry["fingerprint"],
                "before_ms": entry["before"]["execution_ms"],
                "after_ms": won["after"]["execution_ms"],
                "before_buffers": _touched(entry["before"]),
                "after_buffers": _touched(won["after"]),
            }
        )
        proposal["operations"] += [
            w for w in entry["operations"] if w not in proposal["operations"]
        ]
    for proposal in found.values():
        proposal["covered_by"] = [
            other["name"]
            for other in found.values()
            if other is not proposal and _starts_with(other, proposal)
        ]
    return list(found.values())


def _starts_with(wider: Mapping[str, Any], proposal: Mapping[str, Any]) -> bool:
    """``wider`` is a longer index of the same table whose key starts with ``proposal``'s."""
    keys = [c.split()[0] for c in proposal["columns"]]
    other = [c.split()[0] for c in wider["columns"]]
    return (
        wider["table"] == proposal["table"]
        and not proposal["include"]
        and len(other) > len(keys)
        and other[: len(keys)] == keys
    )


def _redundant(
    catalog: Catalog, used: set[str], written: set[str], price: Pricer | None
) -> list[dict[str, Any]]:
    """Duplicate and prefix-covered indexes, and unused ones on tables the run writes to;
    an unused index that covers a redundant one, or leads a foreign key's columns (without
    it every DELETE of a referenced row scans the table), is not offered for dropping."""
    by_name = {i.name: i for i in catalog.indexes}
    found: dict[str, dict[str, Any]] = {}
    covering: set[str] = set()  # what serves a redundant index's lookups once it is gone
    for overlap in overlaps(catalog.indexes):
        index = by_name[overlap["index"]]
        if overlap["kind"] in ("duplicate", "prefix") and not index.constraint:
            found.setdefault(
                index.name,
                _redundant_entry(index, overlap["kind"], f"{overlap['other']} covers it"),
            )
            covering.add(overlap["other"])
    backing = {
        i.name
        for i in catalog.indexes
        for fk in catalog.foreign_keys
        if i.schema == fk.schema
        and i.table == fk.table
        and i.predicate is None
        and set(i.columns[: len(fk.columns)]) == set(fk.columns)
    }
    for index in catalog.indexes:
        if (
            index.name not in used
            and not index.constraint
            and index.name not in found
            and index.name not in covering | backing
            and index.table in written
        ):
            found[index.name] = _redundant_entry(
                index,
                "unused",
                f"no measured statement used it, and the run writes to {index.table}",
            )
    for entry in found.values():
        setup = (
            sql.SQL("DROP INDEX {}")
            .format(sql.Identifier(entry["schema"], entry["name"]))
            .as_string()
        )
        entry["write_cost"] = (
            cost_rows(price(setup, entry["table"]), setup_adds=False) if price else []
        )
    return list(found.values())


def _redundant_entry(index: Index, kind: str, why: str) -> dict[str, Any]:
    return {
        "name": index.name,
        "schema": index.schema,
        "table": index.table,
        "columns": list(index.columns),
        "kind": kind,
        "why": why,
        "size_bytes": index.size_bytes,
        "drop": sql.SQL("DROP INDEX CONCURRENTLY {};")
        .format(sql.Identifier(index.schema, index.name))
        .as_string(),
    }


def cost_rows(rows: Sequence[Mapping[str, Any]], *, setup_adds: bool) -> list[dict[str, Any]]:
    """Priced rows as the index's cost: time with the index, without, and the difference
    (``setup_adds``: the setup built the index; else it dropped an existing one)."""
    costs = []
    for row in rows:
        with_index, without = (
            (row["with_setup_ms"], row["without_setup_ms"])
            if setup_adds
            else (row["without_setup_ms"], row["with_setup_ms"])
        )
        costs.append(
            {
                "operation": row["operation"],
                "variant": row["variant"],
                "calls": row["calls"],
                "with_index_ms": with_index,
                "without_index_ms": without,
                "error": row["error"],
                "cost_ms": None if row["error"] else round(with_index - without, 3),
            }
        )
    return costs


def tables_written(statements: Sequence[Any]) -> set[str]:
    """The tables the statements INSERT into, UPDATE or DELETE from (CTEs included)."""
    found: set[str] = set()
    for statement in statements:
        try:
            tree = parse_sql(to_dollar_params(statement.sql))
        except ParseError:
            continue
        visitor = _Writes()
        visitor(tree)
        found |= visitor.tables
    return found


class _Writes(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.tables: set[str] = set()

    def _target(self, node: Any) -> None:
        self.tables.add(node.relation.relname)

    visit_InsertStmt = visit_UpdateStmt = visit_DeleteStmt = visit_MergeStmt = (
        lambda self, _ancestors, node: self._target(node)
    )
