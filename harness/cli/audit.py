"""``dalperf audit``: the main job in one command.

provision (embedded by default) → migrate → seed → measure every operation (the pipeline
``dalperf run`` uses) → write the results JSON, the HTML report and its Markdown digest →
check budgets (and a baseline, if given); the exit code is ``dalperf check``'s.  Each stage
prints one line with its time, seeding and measuring show progress bars.

Run twice, it does the least work again: the embedded server's data stays in ``--home``,
and data already loaded at the same scale and seed is reused.  Data of another scale or
seed is replaced only in a database dalperf provisioned itself (embedded or container);
a ``--database-url`` database is never reset by ``audit``.

With a ``[tool.dalperf]`` project (``scenarios`` set) the stages are the project's:
provision → its schema and seed hook, kept in a template database (:mod:`dalperf.db.project`)
→ a fresh copy of the template → its operations → report → check.
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
    DEFAULT_ADVISE_MIN_GAIN,
    FROM_FLAGS,
    Advise,
    AdviseMinGain,
    CallTimeout,
    ConfigFile,
    DatabaseOptions,
    DriverNames,
    Iterations,
    Scale,
    advisor_config,
    one_driver,
    project_config,
    setting_option,
    with_database,
)
from dalperf.cli.report import (
    HTML_NAME,
    MARKDOWN_NAME,
    BaselineOption,
    BudgetsOption,
    judge,
    require_report,
    write_report,
)
from dalperf.cli.run import (
    RESULTS_NAME,
    measure,
    print_advice,
    project_environment,
    project_migrations,
    read_budget_set,
    say_note,
    select_operations,
)
from dalperf.errors import PopulatedDatabaseError, UsageError
from dalperf.measure.config import IndexMode, RunConfig
from dalperf.plans.findings import DEFAULT_SEQ_SCAN_ROWS

if TYPE_CHECKING:
    from dalperf.db.targets import Target


@with_database()
def audit(
    scale: Scale = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the data.")] = casestudy.DEFAULT_SEED,
    iterations: Iterations = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="OP",
            help="Operation (area.operation) or area to measure; repeatable.",
        ),
    ] = None,
    indexes: Annotated[
        IndexMode,
        typer.Option(
            "--indexes",
            help="on: as migrated; off: without the performance migration's indexes; "
            "both: measure each way (as for `dalperf run`).",
        ),
    ] = IndexMode.ON,
    out_dir: Annotated[
        Path | None,
        setting_option(
            "out_dir", help=f"Folder for {RESULTS_NAME}, {HTML_NAME} and {MARKDOWN_NAME}"
        ),
    ] = None,
    budgets: BudgetsOption = None,
    baseline: BaselineOption = None,
    config_file: ConfigFile = None,
    advise: Advise = False,
    advise_min_gain: AdviseMinGain = DEFAULT_ADVISE_MIN_GAIN,
    call_timeout: CallTimeout = None,
    driver: DriverNames = None,
    database: DatabaseOptions = FROM_FLAGS,
) -> None:
    """Provision, migrate, seed, measure, report and check: the whole audit in one command.

    With a tool.dalperf project (scenarios set): its schema, its seed hook (kept in a
    template database, copied for each run) and its operations. Exit as `dalperf check`:
    0 pass, 1 a budget, regression or equivalence failure.
    """
    from dalperf.measure.pipeline import Plan
    from dalperf.plans import index_audit

    config = project_config(config_file)
    settings = config.settings(
        scale=scale,
        iterations=iterations,
        out_dir=out_dir,
        call_timeout=call_timeout,
        driver=driver,
    )
    database_url = database.url(config)
    database.require_extras(database_url)
    require_report()
    scale = settings.scale
    if config.is_project:
        from dalperf.db import project

        project.check(config)
        migrations = project_migrations(config)
        migration = index_audit.performance_migration(migrations) if migrations else None
    else:
        casestudy.check_parameters(scale=scale, seed=seed)
        migrations, migration = None, index_audit.performance_migration()
    chosen = one_driver(settings.driver, database_url)
    selection = select_operations(list(config.scenarios) or None, only)
    budget_set = read_budget_set(config, budgets)
    out_dir = settings.out_dir
    results_path = out_dir / RESULTS_NAME
    started = time.perf_counter()
    with ExitStack() as server:  # whatever was started for the audit stops when this ends
        with _stage("database") as note:
            target = server.enter_context(database.target(database_url))
            note(target.display_url)
        if config.is_project:
            from dalperf.db.turns import taking_turns

            server.enter_context(taking_turns(target, say=say_note))
            with _stage("data") as note:
                prepared = project.prepare(target, config, scale=scale, seed=seed)
                note(prepared.seeded)
            if prepared.copied is not None:
                with _stage("copy") as note:
                    note(prepared.copied)
            target = prepared.target
            environment = project_environment(config, prepared.state)
        else:
            _case_study_data(target, scale=scale, seed=seed)
            environment = {"scale": scale, "seed": seed}
        with _stage("measure") as note:
            plan = Plan(
                operations=selection.operations,
                config=RunConfig(
                    iterations=settings.iterations,
                    call_timeout_s=settings.call_timeout,
                    driver=chosen,
                    warmup=settings.warmup,
                ),
                budgets=budget_set,
                index_states=indexes.states,
                migration=migration,
                migrations_folder=migrations,
                environment={**environment, "indexes": indexes.value, **selection.environment()},
                advise=advisor_config(advise, advise_min_gain, DEFAULT_SEQ_SCAN_ROWS),
            )
            results = measure(target, plan, out=results_path)
            note(
                f"{len(results.operations)} measurements of {len(selection.operations)} "
                "operations, with plans and the index audit"
                + (" and the index advice" if results.advice is not None else "")
            )
    with _stage("report") as note:
        gate = judge(results, budgets=plan.budgets, baseline=baseline)
        written = write_report(
            results, gate, html=out_dir / HTML_NAME, markdown=out_dir / MARKDOWN_NAME
        )
        note(", ".join(str(p) for p in [results_path, *written]))
    print_advice(results)
    print_verdict(gate.verdict, compared=baseline is not None)
    console.print(
        f"report: {escape(str((out_dir / HTML_NAME).resolve()))} "
        f"({time.perf_counter() - started:.1f} s in all)",
        soft_wrap=True,
    )
    if not gate.verdict.passed:
        raise verdict_failure(gate.verdict)


def _case_study_data(target: Target, *, scale: float, seed: int) -> None:
    """The case study's schema and data: its migrations, then its seed (reused if equal)."""
    from dalperf.db.migrations import migrate

    with _stage("migrate") as note:
        applied = migrate(target)
        note(f"{len(applied)} migration(s) applied" if applied else "schema up to date")
    with _stage("seed") as note:
        note(_prepare_data(target, scale=scale, seed=seed))


def _prepare_data(target: Target, *, scale: float, seed: int) -> str:
    """Reuse data of the same scale and seed, else load it (replacing data dalperf owns)."""
    from dalperf.cli.seed import progress_bars
    from dalperf.db.targets import Source

    if casestudy.current_seed(target) == (scale, seed):
        return f"reused (scale {scale:g}, seed {seed} already loaded)"
    own = target.source is not Source.URL
    try:
        with progress_bars() as progress:
            report = casestudy.seed(target, scale=scale, seed=seed, reset=own, progress=progress)
    except PopulatedDatabaseError as exc:
        raise UsageError(
            f"{target.display_url} holds other data than scale {scale:g}, seed "
            f"{seed}; `dalperf seed --reset --scale {scale:g} --seed {seed}` "
            "replaces it"
        ) from exc
    return f"{report.total_rows:,} rows loaded (scale {scale:g}, seed {seed})"


@contextmanager
def _stage(name: str) -> Iterator[Callable[[str], None]]:
    """Time one stage and print ``✓ name  what it did  seconds`` on stderr when it ends."""
    said: list[str] = []
    started = time.perf_counter()
    yield said.append
    seconds = time.perf_counter() - started
    err_console.print(
        f"[green]✓[/] {name:<9} {escape(' '.join(said))} [dim]({seconds:.1f} s)[/]", soft_wrap=True
    )
