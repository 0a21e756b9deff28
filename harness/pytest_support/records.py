"""Committed query records (``--dalperf-record DIR``): each test's statements, reviewed like code.

One TOML file per test file (``DIR/tests/test_users.py.toml`` for ``tests/test_users.py``),
one table per test: its statement shapes in the order they were sent (normalised SQL, no
literals), its queries, round trips and network round trips. A later run fails a test whose
record changed, with a unified diff of the shapes; ``--dalperf-record-update`` rewrites the
records instead. A test with no record yet gets one (nothing to compare it with).

Records must be the same on every machine, run and xdist worker, so they leave out what
depends on the process rather than on the test: the round trips of connecting and of the
driver's caches (a new connection, SQLAlchemy's dialect initialisation, psycopg's prepared
statements, asyncpg's type introspection) go to whichever test first needs them. Statements
the test sends concurrently are recorded in the order they started.

TOML is read with the standard library; the files are written by :func:`dumps` (strings as
TOML basic strings), sorted by test id, so a rewrite of an unchanged record is byte-identical.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dalperf.capture import Capture

SUFFIX = ".toml"
HEADER = (
    "# dalperf query record: the statements each test sends, in order. Review changes "
    "like code;\n# rewrite with pytest --dalperf-record-update.\n"
)
# hidden round trips that belong to the process, not the test (see the module docstring)
_PROCESS_KINDS = frozenset({"connect", "initialize", "prepare", "internal"})


class RecordError(Exception):
    """A record file that cannot be read; the message names the file and the line."""


@dataclass(frozen=True, kw_only=True)
class QueryRecord:
    """What one test body sent."""

    queries: int
    round_trips: int
    network_round_trips: int
    statements: tuple[str, ...]

    @classmethod
    def of(cls, capture: Capture) -> QueryRecord:
        from dalperf.capture.fingerprint import shape

        process = sum(h.round_trips for h in capture.hidden if h.kind.value in _PROCESS_KINDS)
        statements = sorted(capture.statements, key=lambda s: s.start_ns)
        return cls(
            queries=capture.queries,
            round_trips=capture.round_trips,
            network_round_trips=max(capture.network_round_trips - process, capture.round_trips),
            statements=tuple(shape(s.sql).normalized for s in statements),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueryRecord:
        return cls(
            queries=int(data["queries"]),
            round_trips=int(data["round_trips"]),
            network_round_trips=int(data["network_round_trips"]),
            statements=tuple(str(s) for s in data["statements"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "round_trips": self.round_trips,
            "network_round_trips": self.network_round_trips,
            "statements": list(self.statements),
        }

    def lines(self) -> list[str]:
        """The record as the lines a diff shows."""
        return [
            f"queries = {self.queries}",
            f"round_trips = {self.round_trips}",
            f"network_round_trips = {self.network_round_trips}",
            *self.statements,
        ]


def record_path(folder: Path, test_file: str) -> Path:
    """The record file of the test file ``test_file`` (relative to the rootdir)."""
    return folder / f"{test_file}{SUFFIX}"


def test_file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def load_folder(folder: Path) -> dict[str, QueryRecord]:
    """Every record under ``folder``, by test id; :class:`RecordError` for a bad file."""
    records: dict[str, QueryRecord] = {}
    if not folder.is_dir():
        return records
    for path in sorted(folder.rglob(f"*{SUFFIX}")):
        records.update(load_file(path))
    return records


def load_file(path: Path) -> dict[str, QueryRecord]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecordError(f"{path}: not valid TOML ({exc})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: cannot read it ({exc})") from exc
    records = {}
    for test, entry in data.items():
        try:
            records[test] = QueryRecord.from_dict(entry)
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(
                f"{path}: the record of {test!r} needs queries, round_trips, "
                f"network_round_trips and statements ({exc!r} is wrong)"
            ) from exc
    return records


def diff(test: str, recorded: QueryRecord, now: QueryRecord) -> str:
    """The unified diff from the committed record to this run's."""
    return "\n".join(
        difflib.unified_diff(
            recorded.lines(),
            now.lines(),
            fromfile=f"{test} (recorded)",
            tofile=f"{test} (this run)",
            lineterm="",
        )
    )


def dumps(records: Mapping[str, QueryRecord]) -> str:
    """One record file's text: a table per test, sorted by test id."""
    parts = [HEADER]
    for test in sorted(records):
        record = records[test]
        statements = "".join(f"  {json.dumps(s, ensure_ascii=False)},\n" for s in record.statements)
        parts.append(
            f"\n[{json.dumps(test, ensure_ascii=False)}]\n"
            f"queries = {record.queries}\nround_trips = {record.round_trips}\n"
            f"network_round_trips = {record.network_round_trips}\n"
            f"statements = [\n{statements}]\n"
        )
    return "".join(parts)


def files_to_write(
    folder: Path,
    committed: Mapping[str, QueryRecord],
    seen: Mapping[str, QueryRecord],
    *,
    update: bool,
) -> dict[Path, str]:
    """The record files whose text changes: tests seen for the first time are added; with
    ``update``, changed records are rewritten too. Tests not run keep their records."""
    by_file: dict[str, dict[str, QueryRecord]] = {}
    for test, record in committed.items():
        by_file.setdefault(test_file_of(test), {})[test] = record
    changed_files = set()
    for test, record in seen.items():
        old = committed.get(test)
        if old is None or (update and old != record):
            by_file.setdefault(test_file_of(test), {})[test] = record
            changed_files.add(test_file_of(test))
    return {record_path(folder, name): dumps(by_file[name]) for name in sorted(changed_files)}


def stale_tests(committed: Iterable[str], seen: Iterable[str]) -> list[str]:
    """Recorded tests of the test files that ran, which did not run (renamed or removed)."""
    seen = set(seen)
    files = {test_file_of(t) for t in seen}
    return sorted(t for t in committed if test_file_of(t) in files and t not in seen)
