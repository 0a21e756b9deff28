"""``dalperf init``: configure a project for dalperf from the module holding its models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dalperf.cli.console import console, escape


def init(
    module: Annotated[
        str,
        typer.Argument(
            help="Module holding the SQLAlchemy models, e.g. "
            "myapp.models (its MetaData gives the tables)."
        ),
    ],
    root: Annotated[
        Path, typer.Option("--root", help="The project's folder (where pyproject.toml is or goes).")
    ] = Path("."),
) -> None:
    """Write a commented tool.dalperf table and a perf/ skeleton for a project.

    perf/ops.py gets a sync and an async operation on the first table, perf/seed.py the
    seed hook, so that `dalperf audit` runs right after.

    Never overwrites: an existing tool.dalperf or perf/ops.py is refused, nothing written.
    """
    import sys

    from dalperf.project.scaffold import init as scaffold

    folder = root.resolve()
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    written = scaffold(module, folder)
    for path in written.files:
        console.print(f"wrote {escape(str(path))}", soft_wrap=True)
    console.print(
        f"schema {escape(written.schema)}, operations on table "
        f"{escape(written.table)}; next: `dalperf audit`",
        soft_wrap=True,
    )
