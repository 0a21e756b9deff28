"""``dalperf run``: measure operations and write the results JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dalperf import casestudy
from dalperf.cli.console import console, err_console, escape
from dalperf.cli.migrate import MigrationsFolder
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
    JitterMs,
    RttSweep,
    Warmup,
    advisor_config,
    chosen_drivers,
    project_config,
    with_database,
)
from dalperf.errors import CheckFailed, RunAborted, RunInterrupted, UsageError
from dalperf.measure.config import (
    DEFAULT_PARAM_SETS,
    DEFAULT_POOL_SIZE,
    IndexMode,
    RunConfig,
)
from dalperf.plans.findings import DEFAULT_SEQ_SCAN_ROWS, PlanThresholds
from dalperf.project.config import VARIANT_ROLES_KEY
from dalperf.project.settings import DEFAULT_OUT_DIR

if TYPE_CHECKING:
    from dalperf.db.drivers import Driver
    from dalperf.db.project import DataState
    from dalperf.db.targets import Target
    from dalperf.measure.operations import Operation
    from dalperf.measure.pipeline import Plan
    from dalperf.project.budgets import BudgetSet
    from dalperf.project.config import Config
    from dalperf.results.model import Results
    from dalperf.results.shards import Shard

RESULTS_NAME = "results.json"
DEFAULT_OUT = DEFAULT_OUT_DIR / RESULTS_NAME
DEFAULT_DATA_SEED = 0


@with_database()
def run(
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="OP",
            help="Operation (area.operation) or area to measure; repeatable.",
        ),
    ] = None,
    scenarios: Annotated[
        list[str] | None,
        typer.Option(
            "--scenarios",
            metavar="MODULE",
            help="Module (dotted name or .py path) registering operations; repeatable. "
            "Default: tool.dalperf scenarios, else the render-app case study.",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="I/N",
            help="Measure slice I of N of the operations (by a hash of "
            "the name: adding operations moves no other); join the files with `dalperf merge`.",
        ),
    ] = None,
    iterations: Iterations = None,
    warmup: Warmup = None,
    param_sets: Annotated[
        int, typer.Option(min=1, help="Input sets drawn per operation; iterations cycle over them.")
    ] = DEFAULT_PARAM_SETS,
    seed: Annotated[int, typer.Option(help="Seed for drawing inputs.")] = 0,
    complexity: Annotated[
        bool, typer.Option("--complexity/--no-complexity", help="Fit query count against size.")
    ] = True,
    pool_size: Annotated[
        int, typer.Option(min=1, help="Connections in the pool.")
    ] = DEFAULT_POOL_SIZE,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Results JSON to write "
            f"(default: results.json in tool.dalperf out_dir, else {DEFAULT_OUT}).",
        ),
    ] = None,
    rtt_ms: RttSweep = None,
    jitter_ms: JitterMs = None,
    indexes: Annotated[
        IndexMode,
        typer.Option(
            "--indexes",
            help="on: as migrated; off: without the performance migration's indexes "
            "(migrated down and back up, the data stays); both: measure each way.",
        ),
    ] = IndexMode.ON,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain/--no-explain",
            help="EXPLAIN (ANALYZE, BUFFERS) each statement shape once and audit the indexes.",
        ),
    ] = True,
    seq_scan_rows: Annotated[
        int,
        typer.Option(
            min=0, help="A sequential scan with a filter on a table of more rows is a finding."
        ),
    ] = DEFAULT_SEQ_SCAN_ROWS,
    performance_migration: Annotated[
        str | None,
        typer.Option(
            "--performance-migration",
            metavar="VERSION",
            help="The migration whose indexes "
            "--indexes off removes and the audit follows (default: the newest with a down file).",
        ),
    ] = None,
    advise: Advise = False,
    advise_min_gain: AdviseMinGain = DEFAULT_ADVISE_MIN_GAIN,
    call_timeout: CallTimeout = None,
    migrations: MigrationsFolder = None,
    config_file: ConfigFile = None,
    driver: DriverNames = None,
    database: DatabaseOptions = FROM_FLAGS,
) -> None:
    """Measure every variant of the chosen operations and write the results JSON.

    With a tool.dalperf project (scenarios set), its schema and seed hook prepare the data
    first, as for `dalperf audit`. With --driver repeated, one results file per driver:
    --out for the first, OUT.DRIVER.json beside it for each other (`dalperf report --beside`
    sets them side by side). Exit 1 when a variant raised or returned a different result
    than the reference.
    """
    from dalperf.measure.pipeline import Plan
    from dalperf.plans import index_audit
    from dalperf.results.shards import Shard

    config = project_config(config_file)
    settings = config.settings(
        iterations=iterations,
        warmup=warmup,
        rtt_sweep_ms=rtt_ms,
        jitter_ms=jitter_ms,
        call_timeout=call_timeout,
        driver=driver,
    )
    database_url = database.url(config)
    chosen = chosen_drivers(settings.driver, database_url)
    chosen_shard = Shard.parse(shard) if shard is not None else None
    selection = select_operations(
        scenarios or list(config.scenarios) or None, only, shard=chosen_shard
    )
    run_config = RunConfig(
        iterations=settings.iterations,
        warmup=settings.warmup,
        param_sets=param_sets,
        seed=seed,
        complexity=complexity,
        rtt_sweep_ms=settings.rtt_sweep_ms,
        jitter_ms=settings.jitter_ms,
        call_timeout_s=settings.call_timeout,
        explain=PlanThresholds(seq_scan_rows=seq_scan_rows) if explain else None,
    )
    if migrations is None and config.is_project:
        migrations = project_migrations(config)
    migration = (
        index_audit.performance_migration(migrations, performance_migration)
        if migrations is not None or not config.is_project
        else None
    )
    budgets = read_budget_set(config, None)
    out = out or settings.out_dir / RESULTS_NAME
    with database.target(database_url) as target, ExitStack() as turns:
        if config.is_project:
            target, data = prepare_project(target, config, settings.scale, turns)
        else:
            data = casestudy.environment(target) if not scenarios else {}
        environment = {**data, "indexes": indexes.value, **selection.environment()}
        written = []
        for each_driver, path in driver_outputs(chosen, out):
            plan = Plan(
                operations=selection.operations,
                config=replace(run_config, driver=each_driver),
                budgets=budgets,
                index_states=indexes.states,
                migration=migration,
                migrations_folder=migrations,
                seq_scan_rows=seq_scan_rows,
                pool_size=pool_size,
                environment=environment,
                advise=advisor_config(advise, advise_min_gain, seq_scan_rows),
            )
            written.append((path, measure(target, plan, out=path)))
    for path, results in written:
        console.print(
            f"wrote {escape(str(path))} ({len(results.operations)} measurements, "
            f"driver {escape(results.environment['driver']['name'])})",
            soft_wrap=True,
        )
        print_advice(results)
        over = sum(len(m.violations) for m in results.operations)
        if over:
            console.print(
                f"{over} budget violation(s); `dalperf check {escape(str(path))}` gates on them",
                soft_wrap=True,
            )
    if len(written) > 1:
        console.print(
            "side by side: dalperf report "
            + " ".join(
                [escape(str(written[0][0]))]
                + [f"--beside {escape(str(p))}" for p, _ in written[1:]]
            ),
            soft_wrap=True,
        )
    for _, results in written:
        fail_on_failures(results)


def say_note(line: str) -> None:
    """``line`` on stderr as a note (what a command waits for, and why)."""
    err_console.print(f"note: {escape(line)}", soft_wrap=True)


def driver_outputs(chosen: list[Driver], out: Path) -> list[tuple[Driver, Path]]:
    """Where each driver's results go: ``out`` for the first, ``OUT.DRIVER.json`` for the others."""
    return [
        (driver, out if i == 0 else out.with_name(f"{out.stem}.{driver.name}{out.suffix}"))
        for i, driver in enumerate(chosen)
    ]


def prepare_project(
    target: Target, config: Config, scale: float, turns: ExitStack
) -> tuple[Target, dict[str, Any]]:
    """A project's data for ``run`` and ``load``: its schema and seed hook (one command at a
    time on the database), kept in a template and copied; the copy, and what the results
    record about it."""
    from dalperf.db.project import prepare
    from dalperf.db.turns import taking_turns

    turns.enter_context(taking_turns(target, say=say_note))
    prepared = prepare(target, config, scale=scale, seed=DEFAULT_DATA_SEED)
    for line in (prepared.seeded, prepared.copied):
        if line:
            err_console.print(f"data: {escape(line)}", soft_wrap=True)
    return prepared.target, project_environment(config, prepared.state)


@dataclass(frozen=True, kw_only=True)
class Selection:
    """The operations to measure, every loaded module's operations, and the shard."""

    operations: list[Operation]
    registered: dict[str, list[str]]
    shard: Shard | None = None

    def environment(self) -> dict[str, Any]:
        """What the results record about the selection, for check and merge."""
        from dalperf.results.shards import REGISTERED_KEY, SHARD_KEY

        return {
            REGISTERED_KEY: self.registered,
            **({SHARD_KEY: str(self.shard)} if self.shard else {}),
        }


def project_environment(config: Config, state: DataState) -> dict[str, Any]:
    """What the results record about a project's data: scale, seed, schema, variant roles."""
    return {
        "scale": state.scale,
        "seed": state.seed,
        "schema": state.schema,
        VARIANT_ROLES_KEY: dict(config.variants),
    }


def project_migrations(config: Config) -> Path | None:
    """The project's migrations folder when its schema is one (the index audit follows it)."""
    from dalperf.db.project import schema_kind

    return Path(config.schema) if config.schema and schema_kind(config) == "migrations" else None


def print_advice(results: Results) -> None:
    """One line on the advice, if any: what it proposes, or why it built nothing."""
    advice = results.advice
    if advice is None:
        return
    if advice["note"]:
        console.print(f"advisor: {escape(advice['note'])}", soft_wrap=True)
    console.print(
        f"advisor: {len(advice['proposals'])} index(es) proposed, "
        f"{len(advice['redundant'])} redundant, {advice['candidates_built']} "
        f"candidate(s) built in {advice['elapsed_s']:.1f} s",
        soft_wrap=True,
    )
    for proposal in advice["proposals"]:
        console.print(f"  {escape(proposal['create'])}", soft_wrap=True)


def select_operations(
    scenarios: list[str] | None, only: list[str] | None, *, shard: Shard | None = None
) -> Selection:
    """Import the scenario modules and pick the operations ``--only`` names in ``shard``."""
    from dalperf.measure.loader import load_modules
    from dalperf.measure.registry import REGISTRY

    specs = scenarios or [casestudy.SCENARIOS]
    modules = [m.__name__ for m in load_modules(specs)]
    loaded = [
        op
        for op in REGISTRY
        if any(op.module == m or op.module.startswith(m + ".") for m in modules)
    ]
    names = {op.name for op in loaded}
    operations = [op for op in REGISTRY.select(only or None) if op.name in names]
    if not operations:
        raise UsageError("no operations registered by " + ", ".join(specs))
    if shard is not None:
        operations = [op for op in operations if shard.holds(op.name)]
        if not operations:
            console.print(
                f"note: shard {shard} holds none of the {len(names)} operations", soft_wrap=True
            )
    return Selection(
        operations=operations,
        shard=shard,
        registered={op.name: [v.name for v in op.variants] for op in loaded},
    )


def read_budget_set(config: Config, budgets: Path | None) -> BudgetSet:
    """The budgets of code, tool.dalperf and ``budgets``, validated against the registry
    (every loaded module's operations)."""
    from dalperf.measure.registry import REGISTRY
    from dalperf.project.budgets import read_budgets

    budget_set = config.budgets.over(read_budgets(None, budgets))
    budget_set.validate({op.name: [v.name for v in op.variants] for op in REGISTRY})
    return budget_set


def measure(target: Target, plan: Plan, *, out: Path) -> Results:
    """Run the pipeline with a progress bar on stderr; say where partial results went."""
    from dalperf.measure import pipeline

    with _progress(plan.work_units()) as advance:
        try:
            return pipeline.measure(target, plan, out=out, progress=advance)
        except (RunAborted, RunInterrupted) as exc:
            if exc.written is not None:
                why = (
                    "the run was interrupted"
                    if isinstance(exc, RunInterrupted)
                    else "the database went away"
                )
                err_console.print(
                    f"wrote {escape(str(exc.written))} "
                    f"({len(exc.results.operations)} measurements made before "
                    f"{why}, marked partial)",
                    soft_wrap=True,
                )
            raise


@contextmanager
def _progress(total: int) -> Iterator[Callable[[str, int], None]]:
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
