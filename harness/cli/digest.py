"""``dalperf digest``: the Markdown digest of the plugin's suite JSON or of a comparison."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from dalperf.cli.check import STEP_SUMMARY_ENV
from dalperf.cli.console import console, escape
from dalperf.errors import EnvironmentProblem, UsageError


def digest_command(
    record: Annotated[
        Path,
        typer.Argument(help="JSON written by pytest --dalperf-json or by dalperf compare --out."),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Markdown file to write (default: print it).")
    ] = None,
    step_summary: Annotated[
        bool,
        typer.Option(
            "--step-summary",
            help=f"Also append it to the file ${STEP_SUMMARY_ENV} names (GitHub Actions).",
        ),
    ] = False,
) -> None:
    """Write the Markdown digest a pull request shows: the verdict, each new finding with its
    call site and fix (a test session), or base against head (a comparison).

    Reads the JSON alone; needs no database and no report extra.
    """
    from dalperf.gate.digest import digest
    from dalperf.results import files

    try:
        text = files.read(record, digest, what="dalperf JSON")
    except UsageError as exc:
        raise UsageError(f"{record}: {exc}") if str(record) not in str(exc) else exc from exc
    if out is not None:
        files.write_atomic(out, text, what="digest")
        console.print(f"wrote {escape(str(out))}", soft_wrap=True)
    else:
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    summary_file = os.environ.get(STEP_SUMMARY_ENV) if step_summary else None
    if summary_file:
        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot append to {STEP_SUMMARY_ENV} file {summary_file}: {exc.strerror}"
            ) from exc
