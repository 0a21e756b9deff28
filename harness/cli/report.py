"""``dalperf report``: render the HTML report and its Markdown digest from a results JSON alone.

No database is touched.  The verdict banner is the one ``dalperf check`` would give with the
same ``--budgets`` and ``--baseline``; rendering it does not change the exit code (the gate
is ``check``'s job), only unreadable input does (exit 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dalperf.cli.check import LoadResultsOption, configured_budgets
from dalperf.cli.console import console, escape
from dalperf.cli.options import ConfigFile

if TYPE_CHECKING:
    from dalperf.gate.check import Verdict
    from dalperf.project.budgets import BudgetSet
    from dalperf.results.load import LoadResults
    from dalperf.results.model import Results

HTML_NAME = "report.html"
MARKDOWN_NAME = "report.md"

BudgetsOption = Annotated[
    Path | None,
    typer.Option(
        "--budgets",
        help="TOML budgets overriding the code defaults and the tool.dalperf.budgets "
        "table of pyproject.toml (as for `dalperf check`).",
    ),
]
BaselineOption = Annotated[
    Path | None,
    typer.Option(
        "--baseline", help="Results JSON to compare with; regressions appear in the verdict."
    ),
]


REPORT_FEATURE = "the HTML/Markdown report"


def require_report() -> None:
    """The report renders with jinja2, shapes its tables with pandas and draws with
    matplotlib (the ``report`` extra): without them, one line naming it (exit 3)."""
    from dalperf.errors import require

    require("report", "jinja2", "pandas", "matplotlib", "numpy", feature=REPORT_FEATURE)


@dataclass(frozen=True, kw_only=True)
class Gate:
    """The verdict of ``results`` and what it was judged with."""

    verdict: Verdict
    budgets: BudgetSet
    baseline: Path | None
    load: LoadResults | None = None


def judge(
    results: Results, *, budgets: BudgetSet, baseline: Path | None, load: LoadResults | None = None
) -> Gate:
    """Evaluate ``results`` (and a load test's ``load``) against ``budgets`` and, if given,
    the baseline file."""

    from dalperf.gate import baseline as baselines
    from dalperf.gate.check import evaluate

    compared = baselines.load_baseline(baseline) if baseline is not None else None
    return Gate(
        verdict=evaluate(results, budgets=budgets, baseline=compared, load=load),
        budgets=budgets,
        baseline=baseline,
        load=load,
    )


def write_report(
    results: Results,
    gate: Gate,
    *,
    html: Path | None,
    markdown: Path | None,
    beside: Sequence[Results] = (),
) -> list[Path]:
    """Render and write the report (``beside``: other drivers' results); the paths written."""
    require_report()
    from dalperf.report import render, write

    rendered = render(
        results,
        verdict=gate.verdict,
        budgets=gate.budgets,
        baseline=str(gate.baseline) if gate.baseline is not None else None,
        load=gate.load,
        beside=beside,
    )
    return write(rendered, html=html, markdown=markdown)


def report_command(
    results: Annotated[
        Path, typer.Argument(help="Results JSON written by `dalperf run` or `dalperf audit`.")
    ],
    html: Annotated[
        Path | None,
        typer.Option("--html", help=f"HTML report to write (default: {HTML_NAME} beside RESULTS)."),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            help=f"Markdown digest to write (default: {MARKDOWN_NAME} beside RESULTS).",
        ),
    ] = None,
    budgets: BudgetsOption = None,
    baseline: BaselineOption = None,
    load_file: LoadResultsOption = None,
    config_file: ConfigFile = None,
    beside: Annotated[
        list[Path] | None,
        typer.Option(
            "--beside",
            metavar="RESULTS",
            help="Results of the same operations through another "
            "driver (`dalperf run --driver`): their network round trips and p50 side by side; "
            "repeatable.",
        ),
    ] = None,
) -> None:
    """Render the audit report from RESULTS alone: one self-contained HTML file and Markdown.

    With neither --html nor --markdown both are written beside RESULTS; otherwise only the
    ones named.
    """
    require_report()

    from dalperf.results import load as load_results
    from dalperf.results.model import read_results

    measured = read_results(results)
    if html is None and markdown is None:
        html, markdown = results.with_name(HTML_NAME), results.with_name(MARKDOWN_NAME)
    gate = judge(
        measured,
        budgets=configured_budgets(config_file, budgets),
        baseline=baseline,
        load=load_results.read_load_results(load_file) if load_file is not None else None,
    )
    others = [read_results(path) for path in beside or ()]
    for path in write_report(measured, gate, html=html, markdown=markdown, beside=others):
        console.print(f"wrote {escape(str(path))}", soft_wrap=True)
    console.print(
        f"verdict: {'passed' if gate.verdict.passed else 'failed'} (`dalperf check` gates on it)"
    )
