"""The audit pipeline: one function that ``dalperf run`` and ``dalperf audit`` share.

measure every operation (at each index state the plan asks for) → the index audit →
the index advisor, when asked (``Plan.advise``; :mod:`dalperf.plans.advisor`, on the
database as migrated) → budgets → the results JSON on disk.  The file is written whatever
happens after the first measurement: when the database goes away mid-run (or during the
index audit or the advice), what was measured before is written, marked ``partial``, and
:class:`~dalperf.errors.RunAborted` is raised after it; on Ctrl-C (or SIGTERM, SIGHUP) the
same, with :class:`~dalperf.errors.RunInterrupted`.

On a database dalperf may not write into (:attr:`~dalperf.db.targets.Target.writable`),
mutating operations are refused before anything runs, and every transaction of the run is
read-only, so that the server itself refuses a write; the advisor builds nothing there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dalperf.errors import (
    DatabaseUnreachable,
    RunAborted,
    RunInterrupted,
    UnsafeTargetError,
    describe,
)
from dalperf.measure.config import DEFAULT_POOL_SIZE, RunConfig
from dalperf.plans.findings import DEFAULT_SEQ_SCAN_ROWS

if TYPE_CHECKING:
    from dalperf.db.migrations import Migration
    from dalperf.db.targets import Target
    from dalperf.measure.operations import Operation
    from dalperf.measure.runner import Progress
    from dalperf.plans.advisor import AdvisorConfig
    from dalperf.project.budgets import BudgetSet
    from dalperf.results.model import Results


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What to measure and how; every field but ``operations`` and ``budgets`` has a default."""

    operations: Sequence[Operation]
    budgets: BudgetSet
    config: RunConfig = field(default_factory=RunConfig)
    index_states: tuple[bool, ...] = (True,)
    migration: Migration | None = None  # whose indexes `index_states` False removes
    migrations_folder: Path | None = None
    seq_scan_rows: int = DEFAULT_SEQ_SCAN_ROWS
    pool_size: int = DEFAULT_POOL_SIZE
    advise: AdvisorConfig | None = None  # None: no index advice
    environment: Mapping[str, Any] = field(default_factory=dict)

    def work_units(self) -> int:
        """Calls the runner will make: a progress bar's total."""
        return len(self.index_states) * sum(self.config.work_units(op) for op in self.operations)


def measure(target: Target, plan: Plan, *, out: Path, progress: Progress | None = None) -> Results:
    """Measure ``plan`` on ``target`` and write the results to ``out``; return them.

    Raises :class:`~dalperf.errors.RunAborted` after writing the partial results
    when the database went away; ``out`` is not touched when nothing was measured.
    """
    import psycopg

    from dalperf.gate.check import with_budgets
    from dalperf.measure import runner
    from dalperf.plans import index_audit

    refuse_mutating(target, plan.operations)

    def once(indexes: bool) -> Results:
        config = replace(plan.config, indexes=indexes, read_only=not target.writable)
        return asyncio.run(
            runner.run(
                target,
                plan.operations,
                config,
                environment=dict(plan.environment),
                pool_size=plan.pool_size,
                progress=progress,
            )
        )

    try:
        results = index_audit.measure_index_states(
            target, plan.index_states, once, migration=plan.migration, folder=plan.migrations_folder
        )
        if plan.config.explain is not None and True in plan.index_states:
            try:
                results = index_audit.audit(
                    results, target, migration=plan.migration, seq_scan_rows=plan.seq_scan_rows
                )
            except (DatabaseUnreachable, psycopg.OperationalError) as exc:
                why = f"the database went away during the index audit ({describe(exc)})"
                raise RunAborted(
                    f"{why}; kept the {len(results.operations)} measurement(s), "
                    "without the index audit",
                    results=replace(results, partial=why),
                ) from exc
    except (RunAborted, RunInterrupted) as exc:
        if exc.results.operations:
            with_budgets(exc.results, plan.budgets).save(out)
            exc.written = out
        raise
    if plan.advise is not None and True in plan.index_states:
        results = replace(results, advice=_advice(target, plan, results, out=out))
    results = with_budgets(results, plan.budgets)
    results.save(out)
    return results


def _advice(target: Target, plan: Plan, results: Results, *, out: Path) -> dict[str, Any]:
    """The index advice on ``results``' operations; when it is cut short (Ctrl-C, SIGTERM,
    the database gone), the measurements taken before are written, marked partial, and
    :class:`RunInterrupted` or :class:`RunAborted` raised after them, as in every phase."""
    import psycopg

    from dalperf.measure.workload import advise_operations

    assert plan.advise is not None
    used = (
        {i["name"] for i in results.index_audit["indexes"] if i["used"]}
        if results.index_audit
        else None
    )
    try:
        return advise_operations(
            target, plan.operations, plan.advise, seed=plan.config.seed, used=used
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        why = "interrupted during the index advice"
        raise _written(
            RunInterrupted(
                f"{why}; kept the {len(results.operations)} measurement(s), without the advice",
                results=replace(results, partial=why),
            ),
            plan,
            out,
        ) from None
    except (DatabaseUnreachable, psycopg.OperationalError) as exc:
        why = f"the database went away during the index advice ({describe(exc)})"
        raise _written(
            RunAborted(
                f"{why}; kept the {len(results.operations)} measurement(s), without the advice",
                results=replace(results, partial=why),
            ),
            plan,
            out,
        ) from exc


def _written(
    stopped: RunAborted | RunInterrupted, plan: Plan, out: Path
) -> RunAborted | RunInterrupted:
    """``stopped`` after its results were written to ``out``, with their budgets."""
    from dalperf.gate.check import with_budgets

    with_budgets(stopped.results, plan.budgets).save(out)
    stopped.written = out
    return stopped


def refuse_mutating(target: Target, operations: Sequence[Operation]) -> None:
    """Raise :class:`UnsafeTargetError` if any of ``operations`` writes and dalperf may not
    write into ``target`` (their writes are rolled back, but locks and triggers are real)."""
    mutating = [op.name for op in operations if op.mutates]
    if mutating and not target.writable:
        raise UnsafeTargetError(
            f"refusing to run the mutating operation(s) {', '.join(mutating)} on "
            f"{target.display_url}: dalperf did not create it; pass --disposable if writes "
            "(rolled back, but taking locks and firing triggers) are acceptable there, or "
            "leave them out with --only"
        )
