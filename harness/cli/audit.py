"""``dalperf audit``: the main job in one command.

provision (embedded by default) → migrate → seed → run every operation → write the results
JSON, the HTML report and its Markdown digest → check budgets (and a baseline, if given);
the exit code is ``dalperf check``'s.  Each stage prints one line with its time, seeding and
measuring show progress bars.

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
from typing import Annotated

import typer

from harness import index_audit, runner
from harness.budgets import find_pyproject, load_budgets
from harness.check import with_budgets
from harness.cli import app, console, err_console
from harness.cli.check import print_verdict
from harness.cli.options import (
    DatabaseUrl,
    DbSource,
    Disposable,
    Ephemeral,
    Home,
    target_from_options,
)
from harness.cli.report import (
    HTML_NAME,
    MARKDOWN_NAME,
    BaselineOption,
    BudgetsOption,
    judge,
    write_report,
)
from harness.cli.run import measure, select_operations
from harness.cli.seed import DEFAULT_SCALE, DEFAULT_SEED, progress_bars
from harness.database import Source, Target
from harness.errors import CheckFailed, PopulatedDatabaseError, UsageError
from harness.migrate import migrate
from harness.scenario import DEFAULT_POOL_SIZE, REGISTRY
from seed.generate import check_parameters
from seed.load import current_seed, seed_database

DEFAULT_OUT_DIR = Path("reports/out")
RESULTS_NAME = "results.json"


@app.command()
def audit(
    scale: Annotated[float, typer.Option(
        "--scale", help="Case-study data size: 1 is ~1,000 users, 100,000 renders.")]
        = DEFAULT_SCALE,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the case-study data.")]
        = DEFAULT_SEED,
    iterations: Annotated[int, typer.Option(min=1, help="Measured calls per variant.")]
        = runner.DEFAULT_ITERATIONS,
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Operation (area.operation) or area to measure; repeatable.")] = None,
    out_dir: Annotated[Path, typer.Option(
        "--out-dir", help=f"Folder for {RESULTS_NAME}, {HTML_NAME} and {MARKDOWN_NAME}.")]
        = DEFAULT_OUT_DIR,
    budgets: BudgetsOption = None,
    baseline: BaselineOption = None,
    database_url: DatabaseUrl = None,
    db: DbSource = None,
    home: Home = None,
    ephemeral: Ephemeral = False,
    disposable: Disposable = False,
) -> None:
    """Provision, migrate, seed, measure, report and check: the whole audit in one command.

    Exit as `dalperf check`: 0 pass, 1 a budget, regression or equivalence failure.
    """
    check_parameters(scale=scale, seed=seed)
    operations = select_operations(None, only)
    budget_set = load_budgets(find_pyproject(Path.cwd()), budgets)
    budget_set.validate({op.name: [v.name for v in op.variants] for op in REGISTRY})
    config = runner.RunConfig(iterations=iterations)
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
            measured = measure(target.libpq_url, operations, config,
                               environment={"scale": scale, "seed": seed},
                               pool_size=DEFAULT_POOL_SIZE)
            audited = index_audit.audit(measured, target,
                                        migration=index_audit.performance_migration())
            results = with_budgets(audited, budget_set)
            note(f"{len(results.operations)} measurements of {len(operations)} operations, "
                 "with plans and the index audit")
    with _stage("report") as note:
        results.save(out_dir / RESULTS_NAME)
        gate = judge(results, budgets=budget_set, baseline=baseline)
        written = write_report(results, gate, html=out_dir / HTML_NAME,
                               markdown=out_dir / MARKDOWN_NAME)
        note(", ".join(str(p) for p in [out_dir / RESULTS_NAME, *written]))
    print_verdict(gate.verdict, compared=baseline is not None)
    console.print(f"report: {(out_dir / HTML_NAME).resolve()} "
                  f"({time.perf_counter() - started:.1f} s in all)")
    if not gate.verdict.passed:
        raise CheckFailed(f"{len(gate.verdict.violations)} budget violation(s), "
                          f"{len(gate.verdict.regressions)} regression(s), "
                          f"{len(gate.verdict.failures)} failure(s)")


def _prepare_data(target: Target, *, scale: float, seed: int) -> str:
    """Reuse data of the same scale and seed, else load it (replacing data dalperf owns)."""
    if current_seed(target) == (scale, seed):
        return f"reused (scale {scale:g}, seed {seed} already loaded)"
    own = target.source is not Source.URL
    try:
        with progress_bars() as progress:
            report = seed_database(target, scale=scale, seed=seed, reset=own, progress=progress)
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
    err_console.print(f"[green]✓[/] {name:<9} {' '.join(said)} [dim]({seconds:.1f} s)[/]",
                      soft_wrap=True)
