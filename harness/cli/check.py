"""``dalperf check`` (the CI gate) and ``dalperf baseline save``: they read results JSON only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dalperf.cli.console import console, escape, print_table
from dalperf.cli.options import ConfigFile
from dalperf.errors import CheckFailed, EnvironmentProblem, UsageError
from dalperf.gate.baseline import DEFAULT_BASELINE, DEFAULT_BUFFERS_CHECK, DEFAULT_CHECKS

if TYPE_CHECKING:
    from dalperf.gate.baseline import PlanChange
    from dalperf.gate.check import Verdict
    from dalperf.project.budgets import BudgetSet

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

ResultsArg = Annotated[Path, typer.Argument(help="Results JSON written by `dalperf run`.")]
LoadResultsOption = Annotated[
    Path | None,
    typer.Option(
        "--load",
        help="Load results JSON written by `dalperf load`; the budgets' load.VARIANT "
        "tables gate it (min_rps, max_p95_ms, max_failure_ratio).",
    ),
]
AllowMismatch = Annotated[
    bool,
    typer.Option(
        "--allow-mismatch",
        help="Compare (or replace) a baseline measured with another results "
        "schema, data scale or PostgreSQL major version.",
    ),
]


def check(
    results: ResultsArg,
    budgets: Annotated[
        Path | None,
        typer.Option(
            "--budgets",
            help="TOML budgets overriding the code defaults and the "
            "tool.dalperf.budgets table of pyproject.toml.",
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline", help="Results JSON to compare with (see `dalperf baseline save`)."
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", help="Write JUnit XML here: one testcase per operation x variant."),
    ] = None,
    latency: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            help="Regression rule with --baseline: latency (p95:10%, median:5ms) or "
            "buffers per call (buffers:10%); repeatable. Default: "
            + ", ".join(str(c) for c in (*DEFAULT_CHECKS, DEFAULT_BUFFERS_CHECK))
            + ".",
        ),
    ] = None,
    allow_mismatch: AllowMismatch = False,
    load_file: LoadResultsOption = None,
    config_file: ConfigFile = None,
    fail_on_missing_index: Annotated[
        bool,
        typer.Option(
            "--fail-on-missing-index",
            help="Also fail when the results' index advice (`dalperf "
            "run --advise`) proposes an index.",
        ),
    ] = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Gate results marked partial (a run that stopped early) on "
            "what they hold, instead of failing them.",
        ),
    ] = False,
    allow_untested: Annotated[
        bool,
        typer.Option(
            "--allow-untested",
            help="With --fail-on-missing-index: pass although candidate "
            "indexes were not tested (a role without CREATE, a database dalperf may not "
            "write), instead of failing.",
        ),
    ] = False,
) -> None:
    """Gate on budgets and a baseline: exit 0 pass, 1 any violation, regression or failure,
    or partial results."""
    from dalperf.gate import baseline as baselines
    from dalperf.gate.check import evaluate, markdown_summary
    from dalperf.gate.junit import write_junit
    from dalperf.results import load as load_results
    from dalperf.results.model import read_results

    measured = read_results(results)
    load_test = load_results.read_load_results(load_file) if load_file is not None else None
    budget_set = configured_budgets(config_file, budgets)
    if latency and baseline is None:
        raise UsageError("--check compares with a baseline; give --baseline too")
    checks, buffers = baselines.parse_checks(latency or ())
    verdict = evaluate(
        measured,
        budgets=budget_set,
        baseline=baselines.load_baseline(baseline) if baseline else None,
        checks=checks,
        buffers=buffers,
        allow_mismatch=allow_mismatch,
        load=load_test,
        fail_on_missing_index=fail_on_missing_index,
        allow_partial=allow_partial,
        allow_untested=allow_untested,
    )
    print_verdict(verdict, compared=baseline is not None)
    if junit is not None:
        write_junit(verdict, junit)
    summary_file = os.environ.get(STEP_SUMMARY_ENV)
    if summary_file:
        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(markdown_summary(verdict))
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot append to {STEP_SUMMARY_ENV} file {summary_file}: {exc.strerror}"
            ) from exc
    if not verdict.passed:
        raise verdict_failure(verdict)


def configured_budgets(config_file: Path | None, budgets: Path | None) -> BudgetSet:
    """``tool.dalperf`` budgets (of ``config_file`` or the nearest pyproject.toml) overlaid
    with the ``--budgets`` file; checked against the results, not a registry."""
    from dalperf.project.budgets import read_budgets
    from dalperf.project.config import load

    return load(config_file).budgets.over(read_budgets(None, budgets))


def verdict_failure(verdict: Verdict) -> CheckFailed:
    """The one-line error a failed verdict ends a command with."""
    missing = (
        f", {len(verdict.missing_indexes)} missing index(es)" if verdict.missing_indexes else ""
    )
    partial = (
        f"; the results are partial (--allow-partial gates them anyway): {verdict.partial}"
        if verdict.partial is not None
        else ""
    )
    empty = "; the results measured no operation x variant pair" if verdict.empty else ""
    untested = f"; {verdict.untested}" if verdict.untested is not None else ""
    return CheckFailed(
        f"{len(verdict.violations)} budget violation(s), "
        f"{len(verdict.regressions)} regression(s), "
        f"{len(verdict.failures)} failure(s){missing}{partial}{empty}{untested}"
    )


def print_verdict(verdict: Verdict, *, compared: bool) -> None:
    """The verdict on stdout: a line when it passed, else one table of every finding."""
    from rich.table import Table

    for note in verdict.notes:
        console.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)
    for change in verdict.plan_changes:
        print_plan_change(change)
    findings = verdict.findings()
    if not findings:
        against = ", no regression against the baseline" if compared else ""
        console.print(
            f"[green]passed[/]: {len(verdict.checked)} operation x variant pairs "
            f"within budget{against}",
            soft_wrap=True,
        )
        return
    table = Table(title="dalperf check: failed", title_justify="left")
    for column in ("kind", "operation", "variant", "check"):
        table.add_column(column)
    table.add_column("allowed / baseline", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("detail", overflow="fold")
    for f in findings:
        table.add_row(
            *(
                escape(cell)
                for cell in (
                    f.kind,
                    f.operation,
                    f.variant,
                    f.check,
                    "" if f.allowed is None else str(f.allowed),
                    "" if f.measured is None else str(f.measured),
                    f.detail,
                )
            )
        )
    print_table(table)


def print_plan_change(change: PlanChange) -> None:
    """One plan change: the statement, then the baseline's and the new shape side by side."""
    from rich.table import Table

    from dalperf.gate.budgets import shorten_sql
    from dalperf.gate.check import side_by_side

    outcome = (
        "[red]failed[/]: buffers rose beyond the tolerance"
        if change.failed
        else "buffers within the tolerance"
    )
    table = Table(
        title=escape(
            f"plan change: {change.operation} [{change.variant}]: {shorten_sql(change.sql)}"
        ),
        title_justify="left",
        caption=f"buffers per call {change.buffers_baseline} -> "
        f"{change.buffers_measured}; {outcome}",
        caption_justify="left",
    )
    table.add_column("baseline", overflow="fold")
    table.add_column("results", overflow="fold")
    for old, new in side_by_side(change):
        table.add_row(escape(old), escape(new))
    print_table(table)


baseline_app = typer.Typer(
    help="Keep a results file as the baseline `check --baseline` compares with.",
    no_args_is_help=True,
)


@baseline_app.command("save")
def save(
    results: ResultsArg,
    to: Annotated[
        Path, typer.Option("--to", help="Where to keep it (commit it with the code).")
    ] = DEFAULT_BASELINE,
    allow_mismatch: AllowMismatch = False,
) -> None:
    """Keep RESULTS as the baseline; refused if it holds failures."""
    from dalperf.gate import baseline as baselines
    from dalperf.results.model import read_results

    saved = baselines.save(read_results(results), to, allow_mismatch=allow_mismatch)
    console.print(f"saved baseline {escape(str(saved))}", soft_wrap=True)
