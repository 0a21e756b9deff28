"""``dalperf audit``: the main job in one command.

provision (embedded by default) → migrate → seed → measure every operation (the pipeline
``dalperf run`` uses) → write the results JSON, the HTML report and its Markdown digest →
check budgets (and a baseline, if given); the exit code is ``dalperf check``'s.  Each stage
prints one line with its time, seeding and measuring show progress bars.

Run twice, it does the least work again: the embedded server's data stays in ``--home``,
and data already loaded at the same scale and seed is reused.  Data of another scale or
seed is replaced only in a database dalperf provisioned itself (embedded or container);
a ``--database-url`` database is never reset by ``audit``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dalperf import casestudy
from dalperf.cli.check import print_verdict, verdict_failure
from dalperf.cli.console import console, err_console, escape
from dalperf.cli.options import (
    DatabaseUrl,
    DbSource,
    Disposable,
    DriverNames,
    Ephemeral,
    Home,
    one_driver,
    target_from_options,
)
from dalperf.cli.report import (
    HTML_NAME,
    MARKDOWN_NAME,
    BaselineOption,
    BudgetsOption,
    judge,
    write_report,
)
from dalperf.cli.run import measure, read_budget_set, select_operations
from dalperf.errors import PopulatedDatabaseError, UsageError
from dalperf.measure.config import DEFAULT_ITERATIONS, IndexMode, RunConfig

if TYPE_CHECKING:
    from dalperf.db.targets import Target

DEFAULT_OUT_DIR = Path("reports/out")
RESULTS_NAME = "results.json"


def audit(
    scale: Annotated[float, typer.Option(
        "--scale", help="Case-study data size: 1 is ~1,000 users, 100,000 renders.")]
        = casestudy.DEFAULT_SCALE,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the case-study data.")]
        = casestudy.DEFAULT_SEED,
    iterations: Annotated[int, typer.Option(min=1, help="Measured calls per variant.")]
        = DEFAULT_ITERATIONS,
    only: Annotated[list[str] | None, typer.Option(
        "--only", metavar="OP", help="Operation (area.operation) or area to measure; repeatable.")] = None,
    indexes: Annotated[IndexMode, typer.Option(
        "--indexes", help="on: as migrated; off: without the performance migration's indexes; "
        "both: measure each way (as for `dalperf run`).")] = IndexMode.ON,
    out_dir: Annotated[Path, typer.Option(
        "--out-dir", help=f"Folder for {RESULTS_NAME}, {HTML_NAME} and {MARKDOWN_NAME}.")]
        = DEFAULT_OUT_DIR,
    budgets: BudgetsOption = None,
    baseline: BaselineOption = None,
    driver: DriverNames = None,
    database_url: DatabaseUrl = None,
    db: DbSource = None,
    home: Home = None,
    ephemeral: Ephemeral = False,
    disposable: Disposable = False,
) -> None:
    """Provision, migrate, seed, measure, report and check: the whole audit in one command.

    Exit as `dalperf check`: 0 pass, 1 a budget, regression or equivalence failure.
    """
    from dalperf.db.migrations import migrate
    from dalperf.measure.pipeline import Plan
    from dalperf.plans import index_audit

    casestudy.check_parameters(scale=scale, seed=seed)
    driver_name = one_driver(driver, database_url)
    operations = select_operations(None, only)
    budget_set = read_budget_set(budgets)
    migration = index_audit.performance_migration()
    results_path = out_dir / RESULTS_NAME
    started = time.perf_counter()
    with ExitStack() as server:  # whatever was started for the audit stops when this ends
        with _stage("database") as note:
            target = server.enter_context(target_from_options(
                database_url=database_url, db=db, home=home, ephemeral=ephemeral,
                disposable=disposable))
            note(target.display_url)
        with _stage("migrate") as note:
            applied = migrate(target)
            note(f"{len(applied)} migration(s) applied" if applied else "schema up to date")
        with _stage("seed") as note:
            note(_prepare_data(target, scale=scale, seed=seed))
        with _stage("measure") as note:
            plan = Plan(operations=operations, config=RunConfig(iterations=iterations, driver=driver_name),
                        budgets=budget_set, index_states=indexes.states, migration=migration,
                        environment={"scale": scale, "seed": seed, "indexes": indexes.value})
            results = measure(target, plan, out=results_path)
            note(f"{len(results.operations)} measurements of {len(operations)} operations, "
                 "with plans and the index audit")
    with _stage("report") as note:
        gate = judge(results, budgets=plan.budgets, baseline=baseline)
        written = write_report(results, gate, html=out_dir / HTML_NAME,
                               markdown=out_dir / MARKDOWN_NAME)
        note(", ".join(str(p) for p in [results_path, *written]))
    print_verdict(gate.verdict, compared=baseline is not None)
    console.print(f"report: {escape(str((out_dir / HTML_NAME).resolve()))} "
                  f"({time.perf_counter() - started:.1f} s in all)", soft_wrap=True)
    if not gate.verdict.passed:
        raise verdict_failure(gate.verdict)


def _prepare_data(target: Target, *, scale: float, seed: int) -> str:
    """Reuse data of the same scale and seed, else load it (replacing data dalperf owns)."""
    from dalperf.cli.seed import progress_bars
    from dalperf.db.targets import Source

    if casestudy.current_seed(target) == (scale, seed):
        return f"reused (scale {scale:g}, seed {seed} already loaded)"
    own = target.source is not Source.URL
    try:
        with progress_bars() as progress:
            report = casestudy.seed(target, scale=scale, seed=seed, reset=own,
                                    progress=progress)
    except PopulatedDatabaseError as exc:
        raise UsageError(f"{target.display_url} holds other data than scale {scale:g}, seed "
                         f"{seed}; `dalperf seed --reset --scale {scale:g} --seed {seed}` "
                         "replaces it") from exc
    return f"{report.total_rows:,} rows loaded (scale {scale:g}, seed {seed})"


@contextmanager
def _stage(name: str) -> Iterator[Callable[[str], None]]:
    """Time one stage and print ``✓ name  what it did  seconds`` on stderr when it ends."""
    said: list[str] = []
    started = time.perf_counter()
    yield said.append
    seconds = time.perf_counter() - started
    err_console.print(f"[green]✓[/] {name:<9} {escape(' '.join(said))} "
                      f"[dim]({seconds:.1f} s)[/]", soft_wrap=True)
