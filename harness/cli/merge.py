"""``dalperf merge``: join the results files of ``dalperf run --shard I/N`` jobs into one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dalperf.cli.console import console, escape


def merge(
    files: Annotated[list[Path], typer.Argument(help="Results JSON files of the shards.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Merged results JSON to write.")],
) -> None:
    """Join shard results into one file that report, check and baseline read.

    Refused (exit 2, nothing written) for files of different scales, data seeds, schemas,
    PostgreSQL versions or results schemas, or measuring the same operation twice.
    """
    from dalperf.shards import merge_files

    merged = merge_files(files)
    merged.save(out)
    console.print(f"wrote {escape(str(out))} ({len(merged.operations)} measurements from "
                  f"{len(files)} files)", soft_wrap=True)
