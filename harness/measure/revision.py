"""A git revision of the user's repository, checked out beside the working tree for a while.

``dalperf compare --base REF`` measures the scenario modules of REF next to the working
tree's.  :func:`checkout` adds a detached ``git worktree`` of REF in a temporary folder and
removes it (and the folder) afterwards, whatever happens; the user's working tree, index
and branches are never touched.  :func:`in_repository` and :func:`require_module` find a
scenario module of the working tree in the repository and in the revision, before anything
is checked out.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dalperf.errors import EnvironmentProblem, UsageError
from dalperf.host import scratch

WORKTREE_PREFIX = "dalperf-base-"


@dataclass(frozen=True, kw_only=True)
class Revision:
    """A revision as the user named it and the commit it resolved to."""

    ref: str
    commit: str


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``git -C root args`` with its output captured; no git at all is an environment error."""
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise EnvironmentProblem("git is not installed; dalperf compare needs it") from exc


def repository_root(start: Path) -> Path:
    """The top folder of the git repository that holds ``start``."""
    done = git(start, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise UsageError(
            f"{start} is not inside a git repository; --base names a revision "
            "of the repository you run dalperf compare in"
        )
    return Path(done.stdout.strip()).resolve()


def resolve(root: Path, ref: str) -> Revision:
    """The commit ``ref`` names in the repository at ``root``."""
    done = git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if done.returncode != 0 or not ref.strip():
        raise UsageError(f"--base {ref!r} names no revision of the repository at {root}")
    return Revision(ref=ref, commit=done.stdout.strip())


def head(root: Path) -> str | None:
    """The working tree's commit, ``None`` in a repository without one."""
    done = git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    return done.stdout.strip() or None


def changed_files(root: Path) -> list[str]:
    """Tracked files with uncommitted changes (untracked files do not count)."""
    done = git(root, "status", "--porcelain", "--untracked-files=no")
    return [line[3:] for line in done.stdout.splitlines() if line.strip()]


@contextmanager
def checkout(root: Path, revision: Revision) -> Iterator[Path]:
    """A detached worktree of ``revision`` in a temporary folder; removed on exit.

    The worktrees a killed ``compare`` left (their folders' owner is gone,
    :func:`dalperf.host.scratch.abandoned`) are removed first, and unregistered from git.
    """
    for stale in scratch.abandoned(WORKTREE_PREFIX):
        _remove_worktree(root, stale, stale / "base")
    git(root, "worktree", "prune")
    folder = scratch.owned_folder(WORKTREE_PREFIX)
    tree = folder / "base"
    try:
        added = git(root, "worktree", "add", "--detach", "--quiet", str(tree), revision.commit)
        if added.returncode != 0:
            raise EnvironmentProblem(
                f"git worktree add failed for {revision.ref}: {_first_line(added.stderr)}"
            )
        yield tree
    finally:
        _remove_worktree(root, folder, tree)


def _remove_worktree(root: Path, folder: Path, tree: Path) -> None:
    """Remove the worktree ``tree`` in ``folder`` and unregister it from git, every step
    even when Ctrl-C interrupts one of them (the interrupt is raised again at the end).

    A Ctrl-C can arrive while ``git worktree add`` still runs (it is then killed, half
    done) or while an earlier step of the removal runs: removing the folder and pruning
    afterwards unregisters whatever git had written.
    """
    interrupted: KeyboardInterrupt | None = None
    steps = (
        lambda: git(root, "worktree", "remove", "--force", str(tree)),
        lambda: shutil.rmtree(folder, ignore_errors=True),
        lambda: git(root, "worktree", "prune"),
    )
    for step in steps:
        try:
            step()
        except KeyboardInterrupt as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted


def module_path(spec: str) -> Path:
    """The file (or package folder) of a scenario module given as a path or dotted name."""
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return Path(spec).expanduser().resolve()
    try:
        found = importlib.util.find_spec(spec)
    except (ImportError, ValueError) as exc:
        raise UsageError(f"cannot find scenario module {spec!r}: {exc}") from exc
    if found is None or found.origin is None:
        raise UsageError(f"cannot find scenario module {spec!r}")
    origin = Path(found.origin).resolve()
    return origin.parent if found.submodule_search_locations else origin


def in_repository(spec: str, root: Path) -> Path:
    """The path, relative to ``root``, of the scenario module ``spec`` names in the working
    tree; a module outside the repository is a UsageError."""
    path = module_path(spec)
    try:
        return path.relative_to(root)
    except ValueError:
        raise UsageError(
            f"scenario module {spec!r} ({path}) is not in the repository at "
            f"{root}; compare measures the repository's own modules"
        ) from None


def require_module(root: Path, revision: Revision, relative: Path) -> None:
    """Refuse a revision that lacks the module file (or package) at ``relative``."""
    for candidate in (relative, relative / "__init__.py"):
        if git(root, "cat-file", "-e", f"{revision.commit}:{candidate.as_posix()}").returncode == 0:
            found = git(root, "cat-file", "-t", f"{revision.commit}:{candidate.as_posix()}")
            if found.stdout.strip() == "blob":
                return
    raise UsageError(f"revision {revision.ref} has no scenario module {relative.as_posix()}")


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["no message"])[0]
