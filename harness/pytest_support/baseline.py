"""The baseline of accepted findings: a JSON file of ``(test, kind, label)`` entries.

Identity is the test's node id, the finding's kind and its label (``Post.comments``,
``SELECT users``): no SQL text, no line numbers and no counts, so editing the code around a
known finding, or adding a column to a model, keeps the entry valid.  Shape::

    {"version": 1, "findings": [{"test": "tests/test_feed.py::test_feed",
                                 "kind": "lazy-load", "label": "Post.comments"}, ...]}

Entries are sorted and written atomically.  An update (``--dalperf-update-baseline``)
replaces the entries of the tests that ran and keeps those of tests that did not run, so a
partial run never forgets the rest of the suite.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import pytest

from dalperf.pytest_support.settings import load_json
from dalperf.results import files

VERSION = 1
OPTION = "--dalperf-baseline"


class Entry(NamedTuple):
    test: str
    kind: str
    label: str


def read(path: Path) -> frozenset[Entry]:
    """The entries of ``path``; a :class:`pytest.UsageError` naming the option if malformed."""
    data = load_json(path, OPTION)
    if (
        not isinstance(data, dict)
        or data.get("version") != VERSION
        or not isinstance(data.get("findings"), list)
    ):
        raise pytest.UsageError(
            f"{OPTION}: {path} is not a dalperf baseline (expected "
            f'{{"version": {VERSION}, "findings": [...]}})'
        )
    entries = set()
    for number, item in enumerate(data["findings"], 1):
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in Entry._fields
        ):
            raise pytest.UsageError(
                f"{OPTION}: {path}: entry {number} needs the strings {', '.join(Entry._fields)}"
            )
        entries.add(Entry(item["test"], item["kind"], item["label"]))
    return frozenset(entries)


def updated(old: Iterable[Entry], ran: set[str], found: Iterable[Entry]) -> list[Entry]:
    """The new baseline: ``old`` minus the tests that ran, plus what they found now."""
    return sorted({e for e in old if e.test not in ran} | set(found))


def write(path: Path, entries: Iterable[Entry]) -> None:
    files.write_atomic(
        path, files.dumps({"version": VERSION, "findings": [e._asdict() for e in sorted(entries)]})
    )
