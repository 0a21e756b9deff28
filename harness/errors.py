"""The exceptions dalperf raises, and the exit code each one maps to.

Hierarchy::

    DalperfError                     base of everything dalperf raises on purpose
    ├── UsageError          (exit 2) bad arguments, malformed input files or URLs
    │   ├── UnsafeTargetError        refusing to write into a database dalperf does not own
    │   ├── PopulatedDatabaseError   seeding a database that already holds data, without --reset
    │   └── MigrationError           an edited applied migration, an unknown version
    ├── EnvironmentProblem  (exit 3) the machine, not the user's input, is at fault
    │   ├── DatabaseUnreachable      nothing answers at the given host/port, or login failed
    │   │   ├── RunAborted           the database (or the proxy) went away mid-run; carries
    │   │   │                        what was measured
    │   │   └── LoadAborted          the database went away during a load test; carries its figures
    │   ├── ProxyDied                the latency proxy's process exited mid-run
    │   ├── ServerStartError         the embedded server (or container) could not start
    │   └── MissingExtra             a feature's optional dependencies are not installed
    ├── CheckFailed         (exit 1) a budget or regression check failed
    ├── RunInterrupted    (exit 130) Ctrl-C, SIGTERM, SIGHUP mid-run; carries what was measured
    └── LoadInterrupted   (exit 130) the same mid-load test; carries its figures

The core raises these (translating psycopg's own errors with ``raise ... from exc``);
only the CLI turns them into exit codes, through :attr:`DalperfError.exit_code`.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dalperf.results.load import LoadResults
    from dalperf.results.model import Results

EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class DalperfError(Exception):
    """Base class; ``str(exc)`` is a one-line message fit to show a user."""

    exit_code: int = EXIT_USAGE


class UsageError(DalperfError):
    """The user's input (arguments, files, URLs) is wrong."""

    exit_code = EXIT_USAGE


class UnsafeTargetError(UsageError):
    """The target database was not created by dalperf and was not marked disposable."""


class PopulatedDatabaseError(UsageError):
    """Seeding was asked of a database that already holds data, without ``--reset``."""


class MigrationError(UsageError):
    """A migration file changed after it was applied, or a version is unknown."""


class EnvironmentProblem(DalperfError):
    """Something outside the user's input failed: the network, a server, a port."""

    exit_code = EXIT_ENVIRONMENT


class DatabaseUnreachable(EnvironmentProblem):
    """No PostgreSQL answered at the target, or it refused the login."""


class RunAborted(DatabaseUnreachable):
    """The database went away mid-run; :attr:`results` holds what was measured before
    (marked ``partial``), :attr:`written` where they were saved, if they were."""

    def __init__(self, message: str, *, results: Results) -> None:
        super().__init__(message)
        self.results = results
        self.written: Path | None = None


class LoadAborted(DatabaseUnreachable):
    """The database was gone when a load test ended; :attr:`results` holds its figures
    (marked ``partial``), to be written before the command fails."""

    def __init__(self, message: str, *, results: LoadResults) -> None:
        super().__init__(message)
        self.results = results


class ProxyDied(EnvironmentProblem):
    """The latency proxy between dalperf and the database exited (it was killed, or it
    crashed): the database itself may be fine."""


class ServerStartError(EnvironmentProblem):
    """The embedded PostgreSQL server or the test container failed to start."""


class MissingExtra(EnvironmentProblem):
    """A feature needs an optional dependency that is not installed; the message names the
    extra that brings it (``pip install 'dalperf[report]'``)."""

    def __init__(self, feature: str, extra: str, module: str, *, hint: str = "") -> None:
        super().__init__(
            f"{feature} needs `pip install 'dalperf[{extra}]'`" + (f" ({hint})" if hint else "")
        )
        self.feature = feature
        self.extra = extra
        self.module = module


def require(extra: str, *modules: str, feature: str, hint: str = "") -> None:
    """Raise :class:`MissingExtra` unless every one of ``modules`` can be imported.

    Called before a feature imports its optional libraries, so a missing extra is one line
    naming it (exit 3) instead of an ImportError from deep inside.  Only the import system's
    finders are asked (:func:`importlib.util.find_spec`): nothing is imported here.
    """
    import importlib.util
    import sys

    for module in modules:
        if sys.modules.get(module) is not None:  # None there blocks the import
            continue
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MissingExtra(feature, extra, module, hint=hint)


class CheckFailed(DalperfError):
    """A budget or a baseline regression check failed."""

    exit_code = EXIT_CHECK_FAILED


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``: how dalperf names an exception in one line."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: sys.exit({exc.code!r}) called"
    if isinstance(exc, SyntaxError):
        where = f"{Path(exc.filename or '?').name}, line {exc.lineno}"
        return f"SyntaxError: {exc.msg} ({where})"
    message = first_line(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def first_line(text: str) -> str:
    """The first line of ``text``, stripped: what fits a one-line message or a table cell."""
    return str(text).strip().partition("\n")[0]


class RunInterrupted(DalperfError):
    """Ctrl-C mid-run; like :class:`RunAborted`, :attr:`results` holds what was measured
    before (marked ``partial``), :attr:`written` where they were saved, if they were."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, *, results: Results) -> None:
        super().__init__(message)
        self.results = results
        self.written: Path | None = None


class LoadInterrupted(DalperfError):
    """Ctrl-C (SIGTERM, SIGHUP) during a load test; :attr:`results` holds the figures of
    the requests made before (marked ``partial``), to be written before the command ends."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, *, results: LoadResults) -> None:
        super().__init__(message)
        self.results = results


def suggest(name: str, known: Collection[str]) -> str:
    """``"; did you mean X?"`` for the close matches of ``name``, else the known names."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    if close:
        return f"; did you mean {', '.join(close)}?"
    return f"; known: {', '.join(known) or 'none'}"
