"""``dalperf --version`` / ``-V``: the installed distribution's version, then exit."""

from __future__ import annotations

from typing import Annotated

import typer

from dalperf.version import installed_version


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"dalperf {installed_version()}")
        raise typer.Exit(0)


def version_option(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_print_version,
            is_eager=True,
            help="Print dalperf's version and exit.",
        ),
    ] = False,
) -> None:
    """Measure how many queries and round trips each DAL operation makes, and how long it takes."""
