"""``dalperf run``: measure operations and write the results JSON."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from harness import index_audit, runner
from harness.budgets import find_pyproject, load_budgets
from harness.check import with_budgets
from harness.cli import app, console, err_console
from harness.cli.migrate import MigrationsFolder
from harness.cli.options import (
    DatabaseUrl,
    DbSource,
    Disposable,
    Ephemeral,
    Home,
    target_from_options,
)
from harness.cli.progress import progress_display
from harness.errors import CheckFailed, UsageError
from harness.plans import DEFAULT_SEQ_SCAN_ROWS, PlanThresholds
from harness.results import Results
from harness.scenario import DEFAULT_POOL_SIZE, REGISTRY, Operation, load_modules

CASE_STUDY = "scenarios"
DEFAULT_OUT = Path("reports/out/results.json")


@app.command()
def run(
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Operation (area.operation) or area to measure; repeatable.")] = None,
    scenarios: Annotated[list[str] | None, typer.Option(
        "--scenarios", help="Module (dotted name or .py path) registering operations; repeatable. "
        "Default: the render-app case study.")] = None,
    iterations: Annotated[int, typer.Option(min=1, help="Measured calls per variant.")]
        = runner.DEFAULT_ITERATIONS,
    warmup: Annotated[int, typer.Option(min=0, help="Unmeasured calls per variant first.")]
        = runner.DEFAULT_WARMUP,
    param_sets: Annotated[int, typer.Option(min=1, help="Input sets drawn per operation; "
        "iterations cycle over them.")] = runner.DEFAULT_PARAM_SETS,
    seed: Annotated[int, typer.Option(help="Seed for drawing inputs.")] = 0,
    complexity: Annotated[bool, typer.Option(help="Fit query count against size.")] = True,
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
    indexes: Annotated[index_audit.IndexMode, typer.Option(
        "--indexes", help="on: as migrated; off: without the performance migration's indexes "
        "(migrated down and back up, the data stays); both: measure each way.")]
        = index_audit.IndexMode.ON,
    explain: Annotated[bool, typer.Option(
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
    database_url: DatabaseUrl = None,
    db: DbSource = None,
    home: Home = None,
    ephemeral: Ephemeral = False,
    disposable: Disposable = False,
) -> None:
    """Measure every variant of the chosen operations and write the results JSON.

    Exit 1 when a variant raised or returned a different result than the reference.
    """
    operations = select_operations(scenarios, only)
    budgets = load_budgets(find_pyproject(Path.cwd()), None)
    budgets.validate({op.name: [v.name for v in op.variants] for op in REGISTRY})
    config = runner.RunConfig(iterations=iterations, warmup=warmup, param_sets=param_sets,
                              seed=seed, complexity=complexity, rtt_sweep_ms=parse_rtts(rtt_ms),
                              jitter_ms=jitter_ms,
                              explain=PlanThresholds(seq_scan_rows=seq_scan_rows) if explain
                              else None)
    migration = index_audit.performance_migration(migrations, performance_migration)
    with target_from_options(database_url=database_url, db=db, home=home, ephemeral=ephemeral,
                             disposable=disposable) as target:
        environment = {**(case_study_environment(target) if not scenarios else {}),
                       "indexes": indexes.value}
        try:
            results = index_audit.measure_index_states(
                target, indexes.states,
                lambda state: measure(target.libpq_url, operations, replace(config, indexes=state),
                                      environment=environment, pool_size=pool_size),
                migration=migration, folder=migrations)
            if explain and True in indexes.states:
                results = index_audit.audit(results, target, migration=migration,
                                            seq_scan_rows=seq_scan_rows)
            results = with_budgets(results, budgets)
        except runner.RunAborted as exc:  # keep what was measured before the database went
            if exc.results.operations:
                with_budgets(exc.results, budgets).save(out)
                err_console.print(f"wrote {out} ({len(exc.results.operations)} measurements "
                                  "made before the database went away)")
            raise
    results.save(out)
    console.print(f"wrote {out} ({len(results.operations)} measurements)")
    over = sum(len(m.violations) for m in results.operations)
    if over:
        console.print(f"{over} budget violation(s); `dalperf check {out}` gates on them")
    fail_on_failures(results)


def select_operations(scenarios: list[str] | None, only: list[str] | None) -> list[Operation]:
    """Import the scenario modules and pick the operations ``--only`` names."""
    modules = [m.__name__ for m in load_modules(scenarios or [CASE_STUDY])]
    operations = [op for op in REGISTRY.select(only or None)
                  if any(op.module == m or op.module.startswith(m + ".") for m in modules)]
    if not operations:
        raise UsageError("no operations registered by " + ", ".join(scenarios or [CASE_STUDY]))
    return operations


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


def measure(url: str, operations: list[Operation], config: runner.RunConfig, *,
            environment: dict[str, object], pool_size: int) -> Results:
    """Run the runner with a progress bar on stderr."""
    total = sum(config.work_units(op) for op in operations)
    with progress_display(label_width=40, transient=True) as bar:
        task = bar.add_task("measuring", total=total)

        def advance(what: str, done: int) -> None:
            bar.update(task, advance=done, description=what)

        return asyncio.run(runner.run(url, operations, config, environment=environment,
                                      pool_size=pool_size, progress=advance))


def fail_on_failures(results: Results) -> None:
    if results.failures:
        for failure in results.failures:
            err_console.print(f"[red]{failure.kind}[/] {failure.operation} [{failure.variant}]: "
                              f"{failure.message}", soft_wrap=True)
        raise CheckFailed(f"{len(results.failures)} variant failure(s); see above")


def case_study_environment(target: object) -> dict[str, object]:
    """Scale and seed of the case-study data, which must be there to draw inputs from."""
    from seed.load import current_seed

    seeded = current_seed(target)  # type: ignore[arg-type]
    if seeded is None:
        raise UsageError("the database holds no case-study data; run `dalperf seed` first")
    scale, data_seed = seeded
    return {"scale": scale, "seed": data_seed}
