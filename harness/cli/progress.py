"""The progress display every long command shows on stderr (nothing when stderr is not a terminal)."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dalperf.cli.console import err_console


def progress_display(*, label_width: int = 20, transient: bool = False) -> Progress:
    """A rich Progress with a label, a bar, ``done/total`` and the elapsed time."""
    return Progress(
        TextColumn(f"{{task.description:<{label_width}}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=transient,
        disable=not err_console.is_terminal,
    )
