"""The ``dalperf`` command line: parse, call the core, turn exceptions into exit codes.

Each command group lives in its own module and registers itself on :data:`app`; this
module owns the shared options and the one place where :class:`~harness.errors.DalperfError`
becomes an exit code (0 ok, 1 check failed, 2 usage/input, 3 environment).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import typer
from rich.console import Console

from harness.errors import EXIT_USAGE, DalperfError

app = typer.Typer(
    name="dalperf",
    help="Measure how many queries and round trips each DAL operation makes, and how long it takes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err_console = Console(stderr=True, highlight=False)
console = Console(highlight=False)


def _register_commands() -> None:
    from harness.cli import audit, check, db, load, migrate, report, run, seed  # noqa: F401  (each module adds its commands)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so that ``finally`` blocks stop servers."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) the process exit code."""
    _register_commands()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    try:
        result = app(args=argv, standalone_mode=False)
    except DalperfError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # click's usage errors, vendored by typer
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err_console.print(f"error: {exc.format_message()}")
        code = exc.exit_code if exc.exit_code else EXIT_USAGE
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted")
        code = 130
    else:
        code = result if isinstance(result, int) else 0
    if argv is None:
        sys.exit(code)
    return code
