"""The two consoles every command prints on: results on stdout, progress and errors on stderr.

Nothing from data is read as rich markup: :func:`escape` it before it goes into a
``[style]`` string.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

# soft_wrap: a long line (a path, a URL) is never broken mid-word, on a terminal or in a CI log
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

__all__ = ["console", "err_console", "escape"]
