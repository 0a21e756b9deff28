"""The session's side of the plugin: every test's record, and the files written at the end.

- ``--dalperf-json F``: ``{"version": 1, "rtt_ms", "tests": [TestRecord ...],
  "stale_baseline": [...]}``, one record per test body captured;
- ``--dalperf-html F``: the verdict first (tests, findings by kind and status, the ten
  tests with the most queries and the most network round trips), then every finding with its
  call site and fix, then one sortable table row per test (click a column heading), one line
  each until opened; self-contained, readable from 1,280 px wide;
- ``--dalperf-sarif F``: :mod:`dalperf.pytest_support.sarif`;
- ``--dalperf-update-baseline``: the baseline rewritten (:mod:`dalperf.pytest_support.baseline`).

Under pytest-xdist each worker keeps its records and hands them to the controller
(:meth:`Suite.worker_output`, through xdist's ``workeroutput``); the controller merges them
(:meth:`Suite.merge`) and writes the files, so they hold every test of the run, in the same
order as without ``-n`` (by test id).

Stale baseline entries (their test ran and the finding is gone) are listed in the terminal
summary, and pruned by an update.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dalperf.pytest_support import baseline
from dalperf.pytest_support.baseline import Entry
from dalperf.pytest_support.settings import Settings
from dalperf.results import files

if TYPE_CHECKING:
    from dalperf.capture import Capture
    from dalperf.capture.findings import Thresholds
    from dalperf.pytest_support.records import QueryRecord

VERSION = 1
TOP = 10  # tests listed in each of the verdict's top lists
STATUSES = ("new", "baselined", "allowed")
UNCHECKED_WHEN_OFF = "missing-index"  # the finding kind of the opt-in index check


@dataclass(kw_only=True)
class TestRecord:
    """What one test body did, for the suite report, SARIF and the baseline."""

    test: str
    queries: int
    findings: list[dict[str, Any]]  # Finding.to_dict() + "status", "file", "line"
    unsupported: list[str]
    # repeats no unit of work made (each request runs it once): reported, never failing
    spread: list[dict[str, Any]] = field(default_factory=list)
    # the rest only when a suite report shows them (Settings.reports_figures)
    round_trips: int | None = None
    network_round_trips: int | None = None
    rows_fetched: int | None = None
    db_ms: float | None = None
    slowest: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "passed"
    budget: dict[str, Any] = field(default_factory=dict)
    query_record: dict[str, Any] | None = None  # with --dalperf-record: QueryRecord.to_dict()


@dataclass
class Suite:
    settings: Settings
    accepted: frozenset[Entry] = frozenset()
    records: dict[str, TestRecord] = field(default_factory=dict)
    unsupported: set[str] = field(default_factory=set)
    thresholds: Thresholds | None = None  # set by the first test captured
    committed: dict[str, QueryRecord] = field(default_factory=dict)  # --dalperf-record
    records_written: list[Path] = field(default_factory=list)
    rootdir: Path = Path()  # pytest's rootdir: call sites are relative to it

    @classmethod
    def start(cls, settings: Settings, rootdir: Path) -> Suite:
        """The session's suite; :class:`pytest.UsageError` for a record file that cannot be
        read (before any test runs)."""
        path = settings.baseline
        accepted = baseline.read(path) if path is not None and path.is_file() else frozenset()
        committed = {}
        if settings.record_dir is not None:
            from dalperf.pytest_support import records

            try:
                committed = records.load_folder(settings.record_dir)
            except records.RecordError as exc:
                raise pytest.UsageError(f"--dalperf-record: {exc}") from exc
        return cls(settings=settings, accepted=accepted, committed=committed, rootdir=rootdir)

    def check_record(self, record: TestRecord, capture: Capture) -> str | None:
        """Keep the body's query record (``--dalperf-record``); the failure text when it
        differs from the committed one and the records are not being updated."""
        from dalperf.pytest_support.records import QueryRecord, diff

        now = QueryRecord.of(capture)
        record.query_record = now.to_dict()
        committed = self.committed.get(record.test)
        if committed is None or committed == now or self.settings.record_update:
            return None
        return (
            f"dalperf query record changed (accept it with --dalperf-record-update):\n"
            f"{diff(record.test, committed, now)}"
        )

    def add(self, record: TestRecord) -> None:
        self.records[record.test] = record
        self.unsupported.update(record.unsupported)

    def ordered(self) -> list[TestRecord]:
        """The records by test id: the same order whatever order (or worker) ran them."""
        return [self.records[test] for test in sorted(self.records)]

    def worker_output(self) -> list[dict[str, Any]]:
        """This worker's records as plain data, for the controller (see :meth:`merge`)."""
        return [asdict(r) for r in self.records.values()]

    def merge(self, records: list[dict[str, Any]]) -> None:
        """Add a worker's records (:meth:`worker_output`)."""
        for data in records:
            self.add(TestRecord(**data))

    def stale_records(self) -> list[str]:
        """Recorded tests of the test files that ran, which did not run themselves."""
        if self.settings.record_dir is None:
            return []
        from dalperf.pytest_support.records import stale_tests

        return stale_tests(
            self.committed, {r.test for r in self.records.values() if r.query_record is not None}
        )

    def found(self) -> list[Entry]:
        """Every finding not allowed, as baseline entries."""
        return [
            Entry(r.test, f["kind"], f["label"])
            for r in self.records.values()
            for f in r.findings
            if f["status"] != "allowed"
        ]

    def stale(self) -> list[Entry]:
        """Baseline entries whose test ran without the finding."""
        found = set(self.found())
        return sorted(
            e
            for e in self.accepted
            if e.test in self.records and e not in found and not self._unchecked(e)
        )

    def _unchecked(self, entry: Entry) -> bool:
        """A baseline entry of a check this session did not run (the missing-index check
        off): neither stale nor pruned, whatever its test did."""
        return entry.kind == UNCHECKED_WHEN_OFF and self.settings.index_check == "off"

    def finish(self) -> list[Path]:
        """Write the files asked for; the paths written."""
        settings, written = self.settings, []
        if settings.update_baseline and settings.baseline is not None:
            kept = {e for e in self.accepted if self._unchecked(e)}
            baseline.write(
                settings.baseline,
                kept | set(baseline.updated(self.accepted, set(self.records), self.found())),
            )
            written.append(settings.baseline)
        if settings.record_dir is not None:
            from dalperf.pytest_support.records import QueryRecord, files_to_write

            seen = {
                r.test: QueryRecord.from_dict(r.query_record)
                for r in self.records.values()
                if r.query_record is not None
            }
            for path, text in files_to_write(
                settings.record_dir, self.committed, seen, update=settings.record_update
            ).items():
                files.write_atomic(path, text, what="query record")
                self.records_written.append(path)
                written.append(path)
        if settings.json_path is not None:
            files.write_atomic(settings.json_path, files.dumps(self.to_dict()))
            written.append(settings.json_path)
        if settings.html_path is not None:
            files.write_atomic(settings.html_path, self.html())
            written.append(settings.html_path)
        if settings.sarif_path is not None:
            from dalperf.pytest_support.sarif import sarif_log

            files.write_atomic(
                settings.sarif_path, files.dumps(sarif_log(self.ordered(), self.rootdir))
            )
            written.append(settings.sarif_path)
        return written

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "rtt_ms": self.settings.rtt_ms,
            "tests": [asdict(r) for r in self.ordered()],
            "stale_baseline": [e._asdict() for e in self.stale()],
        }

    def html(self) -> str:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        environment = Environment(
            loader=PackageLoader("dalperf.reports", "templates"),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
        )
        return environment.get_template("pytest_suite.html.j2").render(
            tests=self.ordered(),
            rtt_ms=self.settings.rtt_ms,
            stale=self.stale(),
            verdict=self.verdict(),
        )

    def verdict(self) -> dict[str, Any]:
        """What the report opens with: test and finding counts, and the heaviest tests.

        ``findings`` lists every finding with its test, new ones first, so that a reader
        sees what fails the build before what the baseline or a marker already accepted.
        """
        records = list(self.records.values())
        found = [{**f, "test": r.test} for r in records for f in r.findings]
        by_kind: dict[str, dict[str, int]] = {}
        for finding in found:
            counts = by_kind.setdefault(finding["kind"], dict.fromkeys(STATUSES, 0))
            counts[finding["status"]] = counts.get(finding["status"], 0) + 1
        outcomes: dict[str, int] = {}
        for record in records:
            outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
        order = {status: rank for rank, status in enumerate(STATUSES)}
        return {
            "tests": len(records),
            "outcomes": dict(sorted(outcomes.items())),
            "by_kind": dict(sorted(by_kind.items())),
            "by_status": {s: sum(1 for f in found if f["status"] == s) for s in STATUSES},
            "findings": sorted(
                found,
                key=lambda f: (
                    order.get(f["status"], len(order)),
                    f["kind"],
                    f["test"],
                    f["label"],
                ),
            ),
            "top_queries": _top(records, "queries"),
            "top_network": _top(records, "network_round_trips"),
        }


def _top(records: list[TestRecord], figure: str) -> list[TestRecord]:
    """The :data:`TOP` records with the highest ``figure`` (none measured: none listed)."""
    measured = [r for r in records if getattr(r, figure) is not None and getattr(r, figure) > 0]
    return sorted(measured, key=lambda r: (-getattr(r, figure), r.test))[:TOP]
