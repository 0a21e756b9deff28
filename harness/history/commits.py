"""The commit a result was measured at, from the options given and, for the rest, from git.

``--commit`` defaults to ``git rev-parse HEAD`` of the current folder, ``--branch`` to its
current branch, and the subject and time to the commit's own (``git log -1``); a commit git
does not know (results measured elsewhere) takes ``--time``, else the results' own
``started_at``.  A value that cannot be found is a one-line :class:`UsageError` naming the
option that gives it.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from dalperf.errors import EnvironmentProblem, UsageError
from dalperf.history.model import Commit

SHA_RE = re.compile(r"[0-9a-fA-F]{4,64}")
FIELD = "\x1f"


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``git -C cwd args``, output captured; no git installed is an environment error."""
    try:
        return subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise EnvironmentProblem(
            "git is not installed; give --commit, --branch and --time"
        ) from exc


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``2026-01-31T12:00:00+01:00``; without a zone: UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--time {text!r} is not an ISO 8601 time (e.g. 2026-01-31T12:00:00+00:00)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def resolve(
    *,
    sha: str | None = None,
    branch: str | None = None,
    time: str | None = None,
    subject: str | None = None,
    started_at: str | None = None,
    cwd: Path | None = None,
) -> Commit:
    """The :class:`Commit` the options describe, completed from git (module docstring)."""
    folder = cwd or Path.cwd()
    known = _from_git(folder, sha or "HEAD")
    if known is None and sha is None:
        raise UsageError(
            f"{folder} is not in a git repository with a commit: give --commit, --branch and --time"
        )
    if known is None and not SHA_RE.fullmatch(sha or ""):
        raise UsageError(
            f"--commit {sha!r} is not a commit sha (4 to 64 hex digits) and git does not know it"
        )
    full, git_subject, git_time = known or ((sha or "").lower(), "", None)
    moment = parse_time(time) if time else git_time
    if moment is None and started_at:
        moment = parse_time(started_at)
    if moment is None:
        raise UsageError(
            f"commit {full[:12]} is unknown to git and the results record no "
            "started_at: give --time"
        )
    return Commit(
        sha=full,
        subject=subject if subject is not None else git_subject,
        time=moment,
        branch=branch or current_branch(folder),
    )


def current_branch(folder: Path) -> str:
    """The branch checked out in ``folder``; a detached HEAD names none."""
    done = git(folder, "symbolic-ref", "--quiet", "--short", "HEAD")
    name = done.stdout.strip()
    if done.returncode != 0 or not name:
        raise UsageError(
            "no current branch (not a git repository, or a detached HEAD): give --branch"
        )
    return name


def known_sha(ref: str, cwd: Path | None = None) -> str | None:
    """The full sha git resolves ``ref`` to (a branch, a tag, ``HEAD~2``), or None."""
    known = _from_git(cwd or Path.cwd(), ref)
    return known[0] if known else None


def _from_git(folder: Path, ref: str) -> tuple[str, str, datetime] | None:
    """(full sha, subject, committer time) of ``ref``, None when git does not know it."""
    done = git(
        folder,
        "log",
        "-1",
        f"--format=%H{FIELD}%cI{FIELD}%s",
        "--end-of-options",
        f"{ref}^{{commit}}",
        "--",
    )
    if done.returncode != 0 or not done.stdout.strip():
        return None
    full, when, subject = done.stdout.rstrip("\n").split(FIELD, 2)
    return full, subject, datetime.fromisoformat(when)
