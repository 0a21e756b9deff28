"""``dalperf run``: measure operations and write the results JSON."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dalperf import casestudy
from dalperf.cli.console import console, err_console, escape
from dalperf.cli.migrate import MigrationsFolder
from dalperf.cli.options import (
    DatabaseUrl,
    DbSource,
    Disposable,
    DriverNames,
    Ephemeral,
    Home,
    chosen_drivers,
    target_from_options,
)
from dalperf.errors import CheckFailed, RunAborted, UsageError
from dalperf.measure.config import (
    DEFAULT_ITERATIONS,
    DEFAULT_PARAM_SETS,
    DEFAULT_POOL_SIZE,
    DEFAULT_WARMUP,
    IndexMode,
    RunConfig,
)
from dalperf.plans.findings import DEFAULT_SEQ_SCAN_ROWS, PlanThresholds

if TYPE_CHECKING:
    from dalperf.db.targets import Target
    from dalperf.gate.budgets import BudgetSet
    from dalperf.measure.pipeline import Plan
    from dalperf.measure.scenario import Operation
    from dalperf.results import Results

DEFAULT_OUT = Path("reports/out/results.json")


def run(
    only: Annotated[list[str] | None, typer.Option(
        "--only", metavar="OP", help="Operation (area.operation) or area to measure; repeatable.")] = None,
    scenarios: Annotated[list[str] | None, typer.Option(
        "--scenarios", metavar="MODULE", help="Module (dotted name or .py path) registering operations; repeatable. "
        "Default: the render-app case study.")] = None,
    iterations: Annotated[int, typer.Option(min=1, help="Measured calls per variant.")]
        = DEFAULT_ITERATIONS,
    warmup: Annotated[int, typer.Option(min=0, help="Unmeasured calls per variant first.")]
        = DEFAULT_WARMUP,
    param_sets: Annotated[int, typer.Option(min=1, help="Input sets drawn per operation; "
        "iterations cycle over them.")] = DEFAULT_PARAM_SETS,
    seed: Annotated[int, typer.Option(help="Seed for drawing inputs.")] = 0,
    complexity: Annotated[bool, typer.Option(
        "--complexity/--no-complexity", help="Fit query count against size.")] = True,
    pool_size: Annotated[int, typer.Option(min=1, help="Connections in the pool.")]
        = DEFAULT_POOL_SIZE,
    out: Annotated[Path, typer.Option("--out", "-o", help="Results JSON to write.")] = DEFAULT_OUT,
    rtt_ms: Annotated[str | None, typer.Option(
        "--rtt-ms", help="Simulated round-trip times in ms, comma-separated (e.g. 0,1,5,20,50): "
        "every operation is measured through the latency proxy at each, 0 included. "
        "Default: a direct connection.")] = None,
    jitter_ms: Annotated[float, typer.Option(
        "--jitter-ms", help="With --rtt-ms: each round trip takes the RTT ± this much "
        "(uniform).")] = 0.0,
    indexes: Annotated[IndexMode, typer.Option(
        "--indexes", help="on: as migrated; off: without the performance migration's indexes "
        "(migrated down and back up, the data stays); both: measure each way.")]
        = IndexMode.ON,
    explain: Annotated[bool, typer.Option(
        "--explain/--no-explain",
        help="EXPLAIN (ANALYZE, BUFFERS) each statement shape once and audit the indexes.")]
        = True,
    seq_scan_rows: Annotated[int, typer.Option(
        min=0, help="A sequential scan with a filter on a table of more rows is a finding.")]
        = DEFAULT_SEQ_SCAN_ROWS,
    performance_migration: Annotated[str | None, typer.Option(
        "--performance-migration", metavar="VERSION", help="The migration whose indexes "
        "--indexes off removes and the audit follows (default: the newest with a down file).")]
        = None,
    migrations: MigrationsFolder = None,
    driver: DriverNames = None,
    database_url: DatabaseUrl = None,
    db: DbSource = None,
    home: Home = None,
    ephemeral: Ephemeral = False,
    disposable: Disposable = False,
) -> None:
    """Measure every variant of the chosen operations and write the results JSON.

    With --driver repeated, one results file per driver: --out for the first, OUT.DRIVER.json
    beside it for each other (`dalperf report --beside` sets them side by side).
    Exit 1 when a variant raised or returned a different result than the reference.
    """
    from dalperf.measure.pipeline import Plan
    from dalperf.plans import index_audit

    driver_names = chosen_drivers(driver, database_url)
    operations = select_operations(scenarios, only)
    config = RunConfig(iterations=iterations, warmup=warmup, param_sets=param_sets, seed=seed,
                       complexity=complexity, rtt_sweep_ms=parse_rtts(rtt_ms),
                       jitter_ms=jitter_ms,
                       explain=PlanThresholds(seq_scan_rows=seq_scan_rows) if explain else None)
    migration = index_audit.performance_migration(migrations, performance_migration)
    budgets = read_budget_set(None)
    with target_from_options(database_url=database_url, db=db, home=home, ephemeral=ephemeral,
                             disposable=disposable) as target:
        environment = {**(casestudy.environment(target) if not scenarios else {}),
                       "indexes": indexes.value}
        written = []
        for name, path in driver_outputs(driver_names, out):
            plan = Plan(operations=operations, config=replace(config, driver=name),
                        budgets=budgets, index_states=indexes.states, migration=migration,
                        migrations_folder=migrations, seq_scan_rows=seq_scan_rows,
                        pool_size=pool_size, environment=environment)
            written.append((path, measure(target, plan, out=path)))
    for path, results in written:
        console.print(f"wrote {escape(str(path))} ({len(results.operations)} measurements, "
                      f"driver {escape(results.environment['driver']['name'])})",
                      soft_wrap=True)
        over = sum(len(m.violations) for m in results.operations)
        if over:
            console.print(f"{over} budget violation(s); `dalperf check {escape(str(path))}` "
                          "gates on them", soft_wrap=True)
    if len(written) > 1:
        console.print("side by side: dalperf report " + " ".join(
            [escape(str(written[0][0]))] + [f"--beside {escape(str(p))}" for p, _ in written[1:]]),
            soft_wrap=True)
    for _, results in written:
        fail_on_failures(results)


def driver_outputs(driver_names: list[str], out: Path) -> list[tuple[str, Path]]:
    """Where each driver's results go: ``out`` for the first, ``OUT.DRIVER.json`` for the others."""
    return [(name, out if i == 0 else out.with_name(f"{out.stem}.{name}{out.suffix}"))
            for i, name in enumerate(driver_names)]


def select_operations(scenarios: list[str] | None, only: list[str] | None) -> list[Operation]:
    """Import the scenario modules and pick the operations ``--only`` names."""
    from dalperf.measure.scenario import REGISTRY, load_modules

    modules = [m.__name__ for m in load_modules(scenarios or [casestudy.SCENARIOS])]
    operations = [op for op in REGISTRY.select(only or None)
                  if any(op.module == m or op.module.startswith(m + ".") for m in modules)]
    if not operations:
        raise UsageError("no operations registered by "
                         + ", ".join(scenarios or [casestudy.SCENARIOS]))
    return operations


def read_budget_set(budgets: Path | None) -> BudgetSet:
    """The budgets of code, pyproject.toml and ``budgets``, validated against the registry."""
    from dalperf.gate.budgets import find_pyproject, read_budgets
    from dalperf.measure.scenario import REGISTRY

    budget_set = read_budgets(find_pyproject(Path.cwd()), budgets)
    budget_set.validate({op.name: [v.name for v in op.variants] for op in REGISTRY})
    return budget_set


def parse_rtts(text: str | None) -> tuple[float, ...]:
    """The RTTs of ``--rtt-ms 0,1,5``; the runner's config rejects negative ones."""
    if text is None:
        return ()
    rtts = []
    for part in text.split(","):
        try:
            rtts.append(float(part))
        except ValueError:
            raise UsageError(f"--rtt-ms: {part.strip()!r} is not a number of milliseconds "
                             "(give a comma-separated list, e.g. 0,1,5,20,50)") from None
    return tuple(rtts)


def measure(target: Target, plan: Plan, *, out: Path) -> Results:
    """Run the pipeline with a progress bar on stderr; say where partial results went."""
    from dalperf.measure import pipeline

    with _progress(plan.work_units()) as advance:
        try:
            return pipeline.measure(target, plan, out=out, progress=advance)
        except RunAborted as exc:
            if exc.written is not None:
                err_console.print(f"wrote {escape(str(exc.written))} "
                                  f"({len(exc.results.operations)} measurements made before "
                                  "the database went away, marked partial)", soft_wrap=True)
            raise


@contextmanager
def _progress(total: int) -> Iterator[object]:
    from dalperf.cli.progress import progress_display

    with progress_display(label_width=40, transient=True) as bar:
        task = bar.add_task("measuring", total=total)

        def advance(what: str, done: int) -> None:
            bar.update(task, advance=done, description=escape(what))

        yield advance


def fail_on_failures(results: Results) -> None:
    """Print each variant failure on its own line and raise :class:`CheckFailed`."""
    if results.failures:
        for failure in results.failures:
            where = escape(f"{failure.operation} [{failure.variant}]: {failure.message}")
            err_console.print(f"[red]{failure.kind}[/] {where}", soft_wrap=True)
        raise CheckFailed(f"{len(results.failures)} variant failure(s); see above")
