"""``dalperf merge``: join the results files of ``dalperf run --shard I/N`` jobs into one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dalperf.cli.console import console, escape


def merge(
    files: Annotated[list[Path], typer.Argument(help="Results JSON files of the shards.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Merged results JSON to write.")],
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Merge a shard set with slices missing (a failed matrix "
            "job); the file is marked partial, which `dalperf check` fails unless "
            "--allow-partial.",
        ),
    ] = False,
) -> None:
    """Join shard results into one file that report, check and baseline read.

    Refused (exit 2, nothing written) for files of different scales, data seeds, schemas,
    PostgreSQL versions, drivers, iteration counts, RTT sweeps or results schemas, for
    measuring the same operation twice, and for a shard set that is not complete (every
    slice I/N of one N, each once) unless --allow-incomplete.
    """
    from dalperf.results.shards import merge_files

    merged = merge_files(files, allow_incomplete=allow_incomplete)
    merged.save(out)
    marked = f", marked partial: {merged.partial}" if merged.partial else ""
    console.print(
        f"wrote {escape(str(out))} ({len(merged.operations)} measurements from "
        f"{len(files)} files{escape(marked)})",
        soft_wrap=True,
    )
