"""Equivalence of an operation's variants: equal normalised results, or a failure with a diff.

An optimization that returns different data is a bug, not a speed-up, so the runner records
a mismatch as a failure (``kind: "mismatch"``, exit 1) with :func:`mismatch_report`: it names
the operation, the variants and the inputs, and shows a small unified diff of the
pretty-printed results.
"""

from __future__ import annotations

import difflib
import pprint
from collections.abc import Mapping
from typing import Any

DIFF_MAX_LINES = 40
_PPRINT_WIDTH = 100


def diff(
    expected: Any,
    actual: Any,
    *,
    expected_label: str = "expected",
    actual_label: str = "actual",
    max_lines: int = DIFF_MAX_LINES,
) -> str:
    """A unified diff of the pretty-printed values, cut to ``max_lines`` lines."""
    lines = list(
        difflib.unified_diff(
            _pretty(expected),
            _pretty(actual),
            fromfile=expected_label,
            tofile=actual_label,
            lineterm="",
            n=2,
        )
    )
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... ({len(lines) - max_lines} more diff lines)"]
    return "\n".join(lines)


def mismatch_report(
    operation: str,
    results: Mapping[str, Any],
    *,
    params: Any = None,
    max_lines: int = DIFF_MAX_LINES,
) -> str | None:
    """``None`` if every variant's result equals the first one's, else what differs, with diffs.

    ``params``, when given, is named in the report so that the failure can be replayed.
    """
    (reference, expected), *others = results.items()
    inputs = "" if params is None else f" on {params!r}"
    reports = [
        f"{operation}: variant {name!r} differs from {reference!r}{inputs}\n"
        + diff(
            expected,
            actual,
            expected_label=f"{operation} [{reference}]",
            actual_label=f"{operation} [{name}]",
            max_lines=max_lines,
        )
        for name, actual in others
        if actual != expected
    ]
    return "\n".join(reports) or None


def _pretty(value: Any) -> list[str]:
    return pprint.pformat(value, width=_PPRINT_WIDTH, sort_dicts=True).splitlines()
