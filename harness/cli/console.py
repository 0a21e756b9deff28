"""The two consoles every command prints on: results on stdout, progress and errors on stderr.

Nothing from data is read as rich markup: :func:`escape` it before it goes into a
``[style]`` string.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

UNWRAPPED_MAX_WIDTH = 1000  # characters of one table row in a CI log

# soft_wrap: a long line (a path, a URL) is never broken mid-word, on a terminal or in a CI log
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

__all__ = ["console", "err_console", "escape", "print_table"]


def print_table(table: Table) -> None:
    """``table`` on stdout, folded to a terminal's width; in a CI log (no terminal) its rows
    are not wrapped, so that each reads (and greps) on one line."""
    if console.is_terminal:
        console.print(table)
        return
    unbounded = console.options.update_width(UNWRAPPED_MAX_WIDTH)
    width = Measurement.get(console, unbounded, table).maximum
    Console(file=console.file, highlight=False, width=max(width, console.width)).print(table)
