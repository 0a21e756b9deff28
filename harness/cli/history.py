"""``dalperf history add|import|list|show|prune|check|report|backfill``: the results store.

The store (:mod:`dalperf.history.store`) is a SQLite file in the dalperf home by default, or
the database ``--history URL`` / ``$DALPERF_HISTORY_URL`` names; every message shows it with
its password masked.  SQLAlchemy and the store's modules load inside the commands.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dalperf.cli.console import console, err_console, escape, print_table
from dalperf.cli.options import FROM_FLAGS, DatabaseOptions, Home, with_database
from dalperf.cli.typer_classes import App
from dalperf.errors import CheckFailed, EnvironmentProblem, UsageError

if TYPE_CHECKING:
    from dalperf.history.gate import Verdict
    from dalperf.history.ingest import Ingested
    from dalperf.history.model import Commit
    from dalperf.history.store import Added, Store

history_app = App(
    help="Keep every main-branch result in a store, gate on its history, draw its trends.",
    no_args_is_help=True,
)

HistoryUrl = Annotated[
    str | None,
    typer.Option(
        "--history",
        metavar="URL",
        help="The history store: a PostgreSQL URL, sqlite:///PATH or "
        "a file path. Default: $DALPERF_HISTORY_URL, else history.sqlite in the dalperf home "
        "(--home, $DALPERF_HOME, ./.dalperf).",
    ),
]
Series = Annotated[
    str,
    typer.Option(
        "--series",
        metavar="NAME",
        help="Keep these results in a series of their own (another "
        "scale, seed or schema than the default series holds).",
    ),
]
Branch = Annotated[
    str | None,
    typer.Option(
        "--branch",
        metavar="B",
        help="Branch the results were measured on. Default: git's current branch.",
    ),
]
MainBranch = Annotated[
    str, typer.Option("--branch", metavar="B", help="The branch whose results are the history.")
]
ResultsFile = Annotated[
    Path,
    typer.Argument(
        metavar="FILE",
        help="Results JSON of `dalperf run`/`audit`, load.json of `dalperf load`, "
        "or the pytest plugin's --dalperf-json.",
    ),
]
SHORT = 10
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
DEFAULT_BRANCH = "main"
DEFAULT_SERIES = "default"


def _open(history: str | None, home: Path | None) -> Store:
    from dalperf.history.store import Store

    return Store.open(history, home=home)


def _said(added: Added, store: Store) -> str:
    stored = added.result
    where = f"{stored.commit.sha[:SHORT]} on {stored.commit.branch}"
    if not added.added:
        return (
            f"{stored.source}: already in {store.location.display} (result "
            f"#{stored.id}, {where}, series {stored.series}); nothing added"
        )
    return (
        f"added {stored.source}: {stored.points} point(s) of {stored.kind} series "
        f"{stored.series}, {where}, as result #{stored.id} of {store.location.display}"
    )


@history_app.command("add")
def add(
    file: ResultsFile,
    commit: Annotated[
        str | None,
        typer.Option(
            "--commit", metavar="SHA", help="Commit measured. Default: git rev-parse HEAD."
        ),
    ] = None,
    branch: Branch = None,
    time: Annotated[
        str | None,
        typer.Option(
            "--time",
            metavar="T",
            help="Commit time, ISO 8601. Default: the commit's in git, "
            "else the results' started_at.",
        ),
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="Commit subject. Default: the commit's in git.")
    ] = None,
    series: Series = DEFAULT_SERIES,
    history: HistoryUrl = None,
    home: Home = None,
) -> None:
    """Add one results file to the store (the same file twice adds nothing)."""
    from dalperf.history import commits, ingest

    ingested = ingest.read(file)
    measured = commits.resolve(
        sha=commit, branch=branch, time=time, subject=subject, started_at=ingested.started_at
    )
    with _open(history, home) as store:
        console.print(
            escape(_said(store.add(ingested, measured, series=series), store)), soft_wrap=True
        )


@history_app.command("import")
def import_folder(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="Folder of results files named after their commit (SHA.json, "
            "or any name ending -SHA.json / _SHA.json).",
        ),
    ],
    branch: Branch = None,
    series: Series = DEFAULT_SERIES,
    history: HistoryUrl = None,
    home: Home = None,
) -> None:
    """Add every *.json of a folder, each at the commit its name ends with; all files are
    read and their commits found before anything is added."""
    from dalperf.history import commits, ingest

    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise UsageError(f"{folder} holds no .json file")
    planned: list[tuple[Ingested, Commit]] = []
    for path in paths:
        ingested = ingest.read(path)
        sha = _sha_in_name(path)
        measured = commits.resolve(sha=sha, branch=branch, started_at=ingested.started_at)
        planned.append((ingested, measured))
    planned.sort(key=lambda pair: pair[1].time)
    new = 0
    with _open(history, home) as store:
        for ingested, measured in planned:
            added = store.add(ingested, measured, series=series)
            new += added.added
            console.print(escape(_said(added, store)), soft_wrap=True)
    console.print(f"imported {new} of {len(planned)} file(s)")


def _sha_in_name(path: Path) -> str:
    from dalperf.history.commits import SHA_RE

    tail = path.stem.replace("_", "-").rsplit("-", 1)[-1]
    if not SHA_RE.fullmatch(tail):
        raise UsageError(
            f"{path}: the file name does not end with a commit sha "
            "(name it SHA.json or NAME-SHA.json)"
        )
    return tail


@history_app.command("list")
def list_results(
    branch: Annotated[
        str | None, typer.Option("--branch", metavar="B", help="Only this branch's results.")
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only audit, load or plugin results.")
    ] = None,
    series: Annotated[str | None, typer.Option("--series", metavar="NAME")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the newest N.")] = None,
    history: HistoryUrl = None,
    home: Home = None,
) -> None:
    """The results in the store, oldest commit first."""
    from rich.table import Table

    with _open(history, home) as store:
        found = store.results(branch=branch, kind=kind, series=series, limit=limit)
        display = store.location.display
    table = Table(title=escape(f"{len(found)} result(s) in {display}"), title_justify="left")
    for column in ("#", "commit", "time", "branch", "kind", "series", "points", "file", "subject"):
        table.add_column(column, justify="right" if column in ("#", "points") else "left")
    for s in found:
        table.add_row(
            *(
                escape(str(cell))
                for cell in (
                    s.id,
                    s.commit.sha[:SHORT],
                    s.commit.time.strftime("%Y-%m-%d %H:%M"),
                    s.commit.branch,
                    s.kind,
                    s.series,
                    s.points,
                    s.source,
                    s.commit.subject,
                )
            )
        )
    print_table(table)


@history_app.command("show")
def show(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="REF",
            help="A result id (#12), a commit sha "
            "(or its first 4+ characters) or a git revision "
            "(HEAD~2, a tag).",
        ),
    ],
    history: HistoryUrl = None,
    home: Home = None,
) -> None:
    """Every figure of the results a commit (or a result id) names."""
    from rich.table import Table

    from dalperf.history.commits import known_sha

    with _open(history, home) as store:
        try:
            found = store.find(ref)
        except UsageError:
            sha = known_sha(ref)
            if sha is None:
                raise
            found = store.find(sha)
        if not found:
            raise UsageError(f"no result in {store.location.display} matches {ref!r}")
        shown = [(stored, store.result_points(stored.id)) for stored in found]
    for stored, points in shown:
        c = stored.commit
        title = (
            f"#{stored.id} {c.sha[:SHORT]} {c.branch} "
            f"{c.time.isoformat(timespec='seconds')} {stored.kind}/{stored.series} "
            f"({stored.source}): {c.subject}"
        )
        table = Table(title=escape(title), title_justify="left")
        table.add_column("series key")
        for column in (
            "queries",
            "round trips",
            "network rt",
            "buffers",
            "rows",
            "p50 ms",
            "p95 ms (95% CI)",
            "plans",
        ):
            table.add_column(column, justify="right")
        for p in points:
            interval = (
                f" [{p.p95_low_ms:.3f}, {p.p95_high_ms:.3f}]"
                if p.p95_low_ms is not None and p.p95_high_ms is not None
                else ""
            )
            table.add_row(
                *(
                    escape(cell)
                    for cell in (
                        p.key.name,
                        _cell(p.queries),
                        _cell(p.round_trips),
                        _cell(p.network_round_trips),
                        _cell(p.buffers),
                        _cell(p.rows_fetched),
                        _ms(p.p50_ms),
                        _ms(p.p95_ms) + interval,
                        str(len(p.plan_shapes)),
                    )
                )
            )
        print_table(table)


def _cell(value: int | None) -> str:
    return "-" if value is None else str(value)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@history_app.command("prune")
def prune(
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep", min=1, help="Keep the newest N results per branch, kind and series."
        ),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            metavar="T",
            help="Delete results of commits older than this time (ISO 8601).",
        ),
    ] = None,
    branch: Annotated[
        str | None,
        typer.Option(
            "--branch", metavar="B", help="Only this branch's results (alone: all of them)."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be deleted; delete nothing.")
    ] = False,
    history: HistoryUrl = None,
    home: Home = None,
) -> None:
    """Delete whole results (never part of one), in one transaction."""
    from dalperf.history.commits import parse_time

    moment: datetime | None = parse_time(before) if before else None
    with _open(history, home) as store:
        gone = store.prune(keep=keep, before=moment, branch=branch, dry_run=dry_run)
        display = store.location.display
    verb = "would delete" if dry_run else "deleted"
    for s in gone:
        console.print(
            escape(
                f"{verb} #{s.id} {s.commit.sha[:SHORT]} {s.commit.branch} "
                f"{s.kind}/{s.series} ({s.source})"
            ),
            soft_wrap=True,
        )
    console.print(escape(f"{verb} {len(gone)} result(s) of {display}"), soft_wrap=True)


@history_app.command("check")
def check(
    file: ResultsFile,
    window: Annotated[
        int,
        typer.Option(
            "--window", metavar="N", min=1, help="Compare with the newest N results of the branch."
        ),
    ] = 20,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            min=0.0,
            help="Latency: the head's p95 fails above every p95 of the "
            "window and above their median by more than this fraction.",
        ),
    ] = 0.10,
    branch: MainBranch = DEFAULT_BRANCH,
    series: Series = DEFAULT_SERIES,
    commit: Annotated[
        str | None,
        typer.Option(
            "--commit",
            metavar="SHA",
            help="The head's commit (its own results, if stored, are "
            "left out of the window). Default: git rev-parse HEAD, when in a repository.",
        ),
    ] = None,
    allow_plan_change: Annotated[
        bool,
        typer.Option(
            "--allow-plan-change", help="A plan shape that changed is a note, not a failure."
        ),
    ] = False,
    history: HistoryUrl = None,
    home: Home = None,
) -> None:
    """Gate a results file on the history: exit 1 when a count or a plan shape rose against
    the newest main results, or the p95 left their distribution. The verdict is appended to
    $GITHUB_STEP_SUMMARY when it is set."""
    from dalperf.history import gate, ingest
    from dalperf.history.commits import git

    head = ingest.read(file)
    head_sha = commit
    if head_sha is None:
        done = git(Path.cwd(), "rev-parse", "--verify", "--quiet", "HEAD")
        head_sha = done.stdout.strip() or None
    with _open(history, home) as store:
        verdict = gate.check(
            store,
            head,
            head_sha=head_sha,
            branch=branch,
            series=series,
            window=window,
            tolerance=tolerance,
            allow_plan_change=allow_plan_change,
        )
        display = store.location.display
    _print_verdict(verdict, head, branch, display)
    summary_file = os.environ.get(STEP_SUMMARY_ENV)
    if summary_file:
        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(gate.markdown_summary(verdict, source=head.source, branch=branch))
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot append to {STEP_SUMMARY_ENV} file {summary_file}: {exc.strerror}"
            ) from exc
    if not verdict.passed:
        raise CheckFailed(
            f"{len(verdict.findings)} regression(s) against the last "
            f"{len(verdict.window)} {branch} results ({verdict.span})"
        )


def _print_verdict(verdict: Verdict, head: Ingested, branch: str, display: str) -> None:
    for note in verdict.notes:
        console.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)
    for finding in verdict.findings:
        console.print(f"[bold red]regression:[/] {escape(finding.message)}", soft_wrap=True)
        if finding.before or finding.after:
            for label, shapes in (("before", finding.before), ("after", finding.after)):
                console.print(f"  plan shapes {label}:", soft_wrap=True)
                for shape in shapes:
                    for line in shape.splitlines():
                        console.print(f"    {escape(line)}", soft_wrap=True)
    if verdict.window:
        console.print(
            escape(
                f"{head.source}: {verdict.compared} of {len(head.figures)} "
                f"series compared with the last {len(verdict.window)} {branch} "
                f"results of {display} ({verdict.span}): "
                + ("no regression" if verdict.passed else f"{len(verdict.findings)} regression(s)")
            ),
            soft_wrap=True,
        )


@history_app.command("report")
def report(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="File to write: HTML, or Markdown when it ends in .md."),
    ] = Path("trends.html"),
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="html or markdown (default: from --out's suffix)."),
    ] = None,
    branch: MainBranch = DEFAULT_BRANCH,
    history: HistoryUrl = None,
    home: Home = None,
) -> None:
    """Draw the trends of the branch's history: every series over its commits, each change
    pinned to its commit."""
    from dalperf.errors import require

    require("report", "jinja2", "numpy", "ruptures", feature="the trends report")
    from dalperf.history.render import write_report

    chosen = fmt or ("markdown" if out.suffix.lower() in (".md", ".markdown") else "html")
    with _open(history, home) as store:
        points = store.points(branch=branch)
    write_report(points, out, fmt=chosen)
    console.print(escape(f"wrote {out} ({len(points)} point(s) of {branch})"), soft_wrap=True)


@history_app.command("backfill")
@with_database(throwaway=False)
def backfill(
    from_ref: Annotated[
        str, typer.Option("--from", metavar="REF", help="Oldest commit to measure.")
    ],
    to_ref: Annotated[
        str, typer.Option("--to", metavar="REF", help="Newest commit to measure.")
    ] = "HEAD",
    every: Annotated[
        int,
        typer.Option(
            "--every", metavar="K", min=1, help="Measure every K-th commit (and always the last)."
        ),
    ] = 1,
    scenarios: Annotated[
        list[str] | None,
        typer.Option(
            "--scenarios",
            metavar="MODULE",
            help="Scenario module, as a path in the repository "
            "or a dotted name; repeatable. Default: each commit's tool.dalperf scenarios, else "
            "the render-app case study.",
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", metavar="OP", help="Operation or area to measure; repeatable."),
    ] = None,
    iterations: Annotated[
        int | None, typer.Option(min=1, help="Measured calls per variant.")
    ] = None,
    warmup: Annotated[int | None, typer.Option(min=0, help="Unmeasured calls first.")] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain/--no-explain", help="Explain each statement (buffers, plan shapes)."
        ),
    ] = True,
    branch: MainBranch = DEFAULT_BRANCH,
    series: Series = DEFAULT_SERIES,
    history: HistoryUrl = None,
    database: DatabaseOptions = FROM_FLAGS,
) -> None:
    """Measure past commits, each in a temporary git worktree, and add their results; an
    interrupted backfill resumes where it stopped (stored commits are skipped)."""
    from dalperf.cli.progress import progress_display
    from dalperf.history.backfill import backfill as run_backfill
    from dalperf.history.backfill import plan_backfill

    run_args: list[str] = []
    for spec in scenarios or ():
        run_args += ["--scenarios", spec]
    for name in only or ():
        run_args += ["--only", name]
    if iterations is not None:
        run_args += ["--iterations", str(iterations)]
    if warmup is not None:
        run_args += ["--warmup", str(warmup)]
    if not explain:
        run_args.append("--no-explain")
    with _open(history, database.home) as store:
        plan = plan_backfill(
            store, from_ref=from_ref, to_ref=to_ref, every=every, branch=branch, series=series
        )
        if plan.stored:
            console.print(f"{len(plan.stored)} commit(s) already in the store, skipped")
        if not plan.todo:
            console.print("nothing to measure")
            return
        with (
            database.target(database.url()) as target,
            progress_display(label_width=24) as bar,
        ):
            task = bar.add_task("backfill", total=len(plan.todo))
            seen: list[str] = []

            def advance(sha: str) -> None:
                if seen:
                    bar.advance(task)
                seen.append(sha)
                bar.update(task, description=f"measuring {sha[:SHORT]}")

            added, failed = run_backfill(
                store,
                plan,
                database_url=target.libpq_url,
                run_args=run_args,
                branch=branch,
                series=series,
                progress=advance,
            )
            bar.update(task, completed=len(plan.todo))
        for result in added:
            console.print(escape(_said(result, store)), soft_wrap=True)
    for failure in failed:
        err_console.print(
            escape(
                f"{failure.sha[:SHORT]}: not measured (exit {failure.exit_code}): {failure.reason}"
            ),
            soft_wrap=True,
        )
    console.print(f"backfilled {len(added)} of {len(plan.todo)} commit(s)")
    if failed:
        raise UsageError(
            f"{len(failed)} commit(s) could not be measured (above); the others were added"
        )
