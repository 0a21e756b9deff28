"""Backfill: measure past commits, each in a temporary git worktree, and add their results.

:func:`plan_backfill` lists the first-parent commits from ``--from`` to ``--to`` (both
included, oldest first), keeps every ``k``-th (and always the last), and leaves out those
whose results are in the store already: so a backfill that was interrupted resumes where it
stopped.  :func:`backfill` checks each commit out as ``dalperf compare`` checks out its base
(:func:`dalperf.measure.revision.checkout`: a detached worktree in a temporary folder,
removed whatever happens) and runs ``dalperf run`` there in a child process, in the
checkout's folder (so the commit's own ``[tool.dalperf]`` and scenario modules are the ones
measured, and nothing of one commit stays imported for the next), on the database the
caller provides (``$DALPERF_DATABASE_URL`` of the child: no password on a command line).
Each results file is added in its own transaction as soon as it is written.  A commit whose
measurement fails (it predates the scenario modules, a variant's import fails) is reported
and skipped; an environment failure (exit 3) or an interrupt stops the backfill.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dalperf.errors import EXIT_ENVIRONMENT, EnvironmentProblem, UsageError
from dalperf.history import commits, ingest
from dalperf.history.store import Added, Store
from dalperf.measure import revision

DATABASE_URL_ENV = "DALPERF_DATABASE_URL"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BackfillPlan:
    """The commits to measure (full shas, oldest first) and those already stored."""

    root: Path
    todo: tuple[str, ...]
    stored: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Failed:
    """A commit whose measurement failed: the run's exit code and its last line of error."""

    sha: str
    exit_code: int
    reason: str


def plan_backfill(
    store: Store,
    *,
    from_ref: str,
    to_ref: str,
    every: int = 1,
    branch: str,
    series: str,
    cwd: Path | None = None,
) -> BackfillPlan:
    """The commits of ``from_ref..to_ref`` to measure (module docstring)."""
    if every < 1:
        raise UsageError(f"--every {every}: give at least 1")
    root = revision.repository_root(cwd or Path.cwd())
    first = revision.resolve(root, from_ref).commit
    last = revision.resolve(root, to_ref).commit
    listed = revision.git(
        root, "rev-list", "--reverse", "--first-parent", "--ancestry-path", f"{first}..{last}"
    )
    if listed.returncode != 0:
        raise UsageError(
            f"cannot list the commits from {from_ref} to {to_ref}: "
            f"{listed.stderr.strip().splitlines()[0] if listed.stderr else ''}"
        )
    between = listed.stdout.split()
    if first != last and not between:
        raise UsageError(
            f"--from {from_ref} is not an ancestor of --to {to_ref} on its first-parent line"
        )
    line = [first, *between]
    chosen = line[::every]
    if chosen[-1] != line[-1]:
        chosen.append(line[-1])
    stored = [
        sha
        for sha in chosen
        if store.has_commit(sha, kind=ingest.AUDIT, series=series, branch=branch)
    ]
    todo = [sha for sha in chosen if sha not in set(stored)]
    return BackfillPlan(root=root, todo=tuple(todo), stored=tuple(stored))


def backfill(
    store: Store,
    plan: BackfillPlan,
    *,
    database_url: str,
    run_args: Sequence[str],
    branch: str,
    series: str,
    progress: Progress | None = None,
) -> tuple[list[Added], list[Failed]]:
    """Measure and add each commit of ``plan``; what was added and what failed.

    ``database_url`` stays text: it is never parsed here, only handed to each commit's
    ``dalperf run`` in its environment (a process boundary)."""
    added: list[Added] = []
    failed: list[Failed] = []
    for sha in plan.todo:
        if progress is not None:
            progress(sha)
        with tempfile.TemporaryDirectory(prefix="dalperf-backfill-") as folder:
            out = Path(folder) / f"{sha}.json"
            code, reason = _measure(plan.root, sha, out, database_url, run_args)
            if code == EXIT_ENVIRONMENT:
                raise EnvironmentProblem(f"measuring {sha[:10]} failed: {reason}")
            if not out.is_file():
                failed.append(Failed(sha=sha, exit_code=code, reason=reason))
                continue
            results = ingest.read(out)
            commit = commits.resolve(sha=sha, branch=branch, cwd=plan.root)
            added.append(store.add(results, commit, series=series))
    return added, failed


def _measure(
    root: Path, sha: str, out: Path, database_url: str, run_args: Sequence[str]
) -> tuple[int, str]:
    """``dalperf run`` at commit ``sha`` in a temporary worktree: exit code, last error line."""
    with revision.checkout(root, revision.Revision(ref=sha[:10], commit=sha)) as tree:
        environment = {**os.environ, DATABASE_URL_ENV: database_url}
        done = subprocess.run(
            [sys.executable, "-m", "dalperf", "run", "--out", str(out), *run_args],
            cwd=tree,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return done.returncode, lines[-1] if lines else f"exit {done.returncode}"
