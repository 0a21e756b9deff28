"""The ``dalperf`` command line: parse, call the core, turn exceptions into exit codes.

The commands live in one module each and are registered in :mod:`dalperf.cli.app`; this
module is the one place where a :class:`~dalperf.errors.DalperfError` becomes an exit code
(0 ok, 1 check failed, 2 usage/input, 3 environment) and a one-line message.  Every message
and traceback printed here has its passwords masked (:func:`dalperf.db.urls.redact`).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from dalperf.errors import EXIT_INTERRUPTED, EXIT_USAGE, DalperfError

EXIT_CRASHED = 1  # what Python exits with on an uncaught exception
EXIT_OUTPUT_CLOSED = 1  # the reader of the output went away (`| head`): what rich ends with


def _redact(text: str) -> str:
    """``text`` with passwords masked (imported only when there is an error to print)."""
    from dalperf.db.urls import redact

    return redact(text)


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM and SIGHUP (what CI runners send on cancel) handled exactly as Ctrl-C: by
    whatever handles SIGINT now.  Inside ``asyncio.run`` that handler cancels the main task,
    so the run writes what it measured (marked partial); a KeyboardInterrupt raised at a
    random point of the event loop instead would escape it and lose them.  Elsewhere it is
    Python's own, a KeyboardInterrupt, so that ``finally`` blocks stop servers."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt(f"signal {signum}")


def _last_frame(exc: BaseException) -> FrameType | None:
    tb = exc.__traceback__
    frame = None
    while tb is not None:
        frame = tb.tb_frame
        tb = tb.tb_next
    return frame


def _stdout_closed(exc: SystemExit) -> bool:
    """Whether ``exc`` is rich's way of ending when the reader of the output went away
    (``dalperf ... | head``): its console sends the rest to the null device and raises
    ``SystemExit(1)``.  That is no one's error: dalperf ends with 1, and says nothing."""
    frame = _last_frame(exc)
    return (
        frame is not None
        and frame.f_code.co_name == "on_broken_pipe"
        and frame.f_globals.get("__name__") == "rich.console"
    )


def _exit_origin(exc: SystemExit) -> str:
    """One line naming the file whose code raised ``exc``: nothing dalperf runs may end it
    with its own exit code (a ``sys.exit(0)`` would turn a gate green)."""
    from pathlib import Path

    frame = _last_frame(exc)
    where = f" in {Path(frame.f_code.co_filename).name}" if frame is not None else ""
    return f"sys.exit({exc.code!r}) called{where}, by code dalperf ran; dalperf stopped"


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and, run as a script, exits with) the exit code."""
    import typer

    from dalperf.cli.app import app
    from dalperf.cli.console import err_console, escape

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    try:
        result = app(args=argv, standalone_mode=False)
    except DalperfError as exc:
        err_console.print(f"[bold red]error:[/] {escape(_redact(str(exc)))}", soft_wrap=True)
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # click's usage errors, vendored by typer
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err_console.print(f"error: {escape(exc.format_message())}", soft_wrap=True)
        code = exc.exit_code if exc.exit_code else EXIT_USAGE
    except (KeyboardInterrupt, typer.Abort):
        code = EXIT_INTERRUPTED
    except SystemExit as exc:  # typer's own exits are typer.Exit: this one is user code's
        if _stdout_closed(exc):
            code = EXIT_OUTPUT_CLOSED
        else:
            err_console.print(f"[bold red]error:[/] {escape(_exit_origin(exc))}", soft_wrap=True)
            code = EXIT_USAGE
    except Exception:  # a bug: its traceback, any password in it masked
        import traceback

        sys.stderr.write(_redact(traceback.format_exc()))
        code = EXIT_CRASHED
    else:
        # typer turns a KeyboardInterrupt into exit code 130 itself (returned, not raised,
        # outside standalone mode), after every ``finally`` below the command has run
        code = result if isinstance(result, int) else 0
    if code == EXIT_INTERRUPTED:
        err_console.print("interrupted")
    if argv is None:
        sys.exit(code)
    return code
