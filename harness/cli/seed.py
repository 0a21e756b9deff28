"""``dalperf seed``: load the case-study data, deterministic for a given scale and seed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from dalperf.casestudy import DEFAULT_SEED
from dalperf.cli.console import console, escape
from dalperf.cli.options import FROM_FLAGS, DatabaseOptions, setting_option, with_database
from dalperf.cli.progress import progress_display

if TYPE_CHECKING:
    from rich.progress import TaskID

    from dalperf.casestudy import ProgressCallback, SeedReport


@with_database()
def seed_command(
    scale: Annotated[
        float | None,
        setting_option(
            "scale", help="Data size: 1 is ~1,000 users, 5,000 projects, 100,000 renders"
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed; the same seed gives the same data.")
    ] = DEFAULT_SEED,
    reset: Annotated[
        bool,
        typer.Option("--reset", help="Replace the data of a database that already holds some."),
    ] = False,
    database: DatabaseOptions = FROM_FLAGS,
) -> None:
    """Load the case-study data (users, projects, renders, chains, billing, gallery) with COPY."""
    from dalperf import casestudy
    from dalperf.project.settings import resolve

    scale = resolve({"scale": scale}, {}).scale  # the case study's: no [tool.dalperf] scale
    casestudy.check_parameters(scale=scale, seed=seed)
    with (
        database.target(database.url()) as target,
        progress_bars() as progress,
    ):
        report = casestudy.seed(target, scale=scale, seed=seed, reset=reset, progress=progress)
        where = target.display_url
    _print_report(report, where)


@contextmanager
def progress_bars() -> Iterator[ProgressCallback]:
    """A progress bar per step on stderr (none when stderr is not a terminal)."""
    bars = progress_display()
    tasks: dict[str, TaskID] = {}

    def update(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = bars.add_task(escape(step), total=total)
        bars.update(tasks[step], completed=done, total=total)

    with bars:
        yield update


def _print_report(report: SeedReport, where: str) -> None:
    from rich.table import Table

    console.print(
        f"seeded {escape(where)} (scale {report.scale:g}, seed {report.seed})", soft_wrap=True
    )
    table = Table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in report.row_counts.items():
        table.add_row(escape(name), f"{count:,}")
    table.add_row("total", f"{report.total_rows:,}", style="bold")
    console.print(table)
    console.print(
        f"{report.total_rows:,} rows in {report.seconds:.2f} s: "
        f"{report.rows_per_second:,.0f} rows/s "
        "(generation, COPY, indexes, VACUUM and ANALYZE included)"
    )
