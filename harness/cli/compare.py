"""``dalperf compare --base REF``: base revision against the working tree, in one job."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dalperf import casestudy
from dalperf.cli.console import console, escape, print_table
from dalperf.cli.options import (
    FROM_FLAGS,
    ConfigFile,
    DatabaseOptions,
    Warmup,
    project_config,
    setting_option,
    with_database,
)
from dalperf.errors import CheckFailed, UsageError
from dalperf.measure.config import DEFAULT_PARAM_SETS, DEFAULT_POOL_SIZE

if TYPE_CHECKING:
    from dalperf.measure.compare import Pair, RevisionComparison

DEFAULT_OUT = Path("reports/out/compare.json")
MIN_ITERATIONS = 2  # a ratio's interval needs two samples a side


@with_database(throwaway=False)
def compare(
    base: Annotated[
        str,
        typer.Option(
            "--base",
            metavar="REF",
            help="Git revision of this repository to compare the working "
            "tree with (a branch, tag or commit, e.g. origin/main).",
        ),
    ],
    scenarios: Annotated[
        list[str] | None,
        typer.Option(
            "--scenarios",
            metavar="MODULE",
            help="Scenario module (.py path, package folder or "
            "dotted name) of the repository; repeatable. Default: tool.dalperf scenarios, else "
            "the render-app case study.",
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="OP",
            help="Operation (area.operation) or area to compare; repeatable.",
        ),
    ] = None,
    iterations: Annotated[
        int | None,
        setting_option(
            "iterations", help="Measured calls per variant and side", min=MIN_ITERATIONS
        ),
    ] = None,
    warmup: Warmup = None,
    param_sets: Annotated[
        int, typer.Option(min=1, help="Input sets drawn per operation.")
    ] = DEFAULT_PARAM_SETS,
    seed: Annotated[int, typer.Option(help="Seed for drawing inputs.")] = 0,
    latency: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            help="Latency rule, head against base, e.g. median:10% or p95:5ms; "
            "repeatable. Default: median:10%, p95:10%.",
        ),
    ] = None,
    allow_dirty: Annotated[
        bool,
        typer.Option(
            "--allow-dirty", help="Measure uncommitted changes to tracked files as the head."
        ),
    ] = False,
    pool_size: Annotated[
        int, typer.Option(min=1, help="Connections in the pool.")
    ] = DEFAULT_POOL_SIZE,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Comparison JSON to write.")
    ] = DEFAULT_OUT,
    config_file: ConfigFile = None,
    database: DatabaseOptions = FROM_FLAGS,
) -> None:
    """Measure the base revision's scenarios and the working tree's, interleaved on one
    database; exit 1 when the head regressed.

    With a tool.dalperf project (scenarios set), its root is importable, and its schema and
    seed hook prepare the data first, as for `dalperf run`.
    """
    from dalperf.cli.progress import progress_display
    from dalperf.cli.run import DEFAULT_DATA_SEED
    from dalperf.gate.baseline import LatencyCheck
    from dalperf.measure.compare import CompareConfig, compare_revisions, plan_comparison

    project = project_config(config_file)
    settings = project.settings(iterations=iterations, warmup=warmup)
    checks = tuple(LatencyCheck.parse(text) for text in latency or ())
    config = CompareConfig(
        iterations=max(settings.iterations, MIN_ITERATIONS),
        warmup=settings.warmup,
        param_sets=param_sets,
        seed=seed,
        pool_size=pool_size,
        **({"checks": checks} if checks else {}),
    )
    specs = scenarios or list(project.scenarios) or [casestudy.SCENARIOS]
    plan = plan_comparison(base_ref=base, specs=specs, only=only, allow_dirty=allow_dirty)
    with (
        database.target(database.url(project)) as target,
        ExitStack() as turns,
        progress_display(label_width=40, transient=True) as bar,
    ):
        if project.is_project:
            from dalperf.cli.run import say_note
            from dalperf.db.project import prepare
            from dalperf.db.turns import taking_turns

            turns.enter_context(taking_turns(target, say=say_note))
            target = prepare(
                target,
                project,
                scale=settings.scale,
                seed=DEFAULT_DATA_SEED,
            ).target
        task = bar.add_task("comparing", total=None)

        def advance(what: str, done: int) -> None:
            bar.update(task, advance=done, description=escape(what))

        comparison = compare_revisions(target, plan, config, progress=advance)
    comparison.save(out)
    print_comparison(comparison)
    console.print(f"wrote {escape(str(out))}", soft_wrap=True)
    if not comparison.pairs:
        raise UsageError(f"nothing to compare: no operation is in both {base} and the working tree")
    if not comparison.passed:
        failed = sum(not p.passed for p in comparison.pairs)
        raise CheckFailed(
            f"{failed} operation x variant pair(s) regressed against {comparison.base.ref}"
        )


def print_comparison(comparison: RevisionComparison) -> None:
    """Base against head per pair: medians, the ratio with its interval, counts, verdict."""
    from rich.table import Table

    base = comparison.base
    head = comparison.head_commit[:12] if comparison.head_commit else "working tree"
    for note in comparison.notes:
        console.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)
    title = (
        f"base {base.ref} ({base.commit[:12]}) vs head {head}"
        f"{' + uncommitted changes' if comparison.head_changes else ''}"
    )
    table = Table(title=escape(title), title_justify="left")
    for column in ("operation", "variant"):
        table.add_column(column)
    for column in ("base p50", "head p50", "head / base (95% CI)", "queries", "round trips"):
        table.add_column(column, justify="right")
    table.add_column("verdict", overflow="fold")
    for p in comparison.pairs:
        ratio = (
            ""
            if p.ratio is None
            else f"{p.ratio.value:.2f} [{p.ratio.low:.2f}, {p.ratio.high:.2f}]"
        )
        table.add_row(
            *(
                escape(str(cell))
                for cell in (
                    p.operation,
                    p.variant,
                    f"{p.base.wall_ms.p50:.3f} ms",
                    f"{p.head.wall_ms.p50:.3f} ms",
                    ratio,
                    f"{p.base.queries} -> {p.head.queries}",
                    f"{p.base.round_trips} -> {p.head.round_trips}",
                    _verdict(p),
                )
            )
        )
    print_table(table)


def _verdict(pair: Pair) -> str:
    """What became of one pair, on one line."""
    if pair.head.error:
        return f"head raised {pair.head.error}"
    if pair.mismatch:
        return "results differ: " + pair.mismatch.partition("\n")[0]
    if pair.regressions:
        return "; ".join(r.message for r in pair.regressions)
    if pair.base.error:
        return f"ok (the base raised {pair.base.error})"
    return "ok"
