"""The two consoles every command prints on: results on stdout, progress and errors on stderr.

Nothing from data is read as rich markup: :func:`escape` it before it goes into a
``[style]`` string.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

__all__ = ["console", "err_console", "escape"]
