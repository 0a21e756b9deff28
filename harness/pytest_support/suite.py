"""The session's side of the plugin: every test's record, and the files written at the end.

- ``--dalperf-json F``: ``{"version": 1, "rtt_ms", "tests": [TestRecord ...],
  "stale_baseline": [...]}``, one record per test body captured;
- ``--dalperf-html F``: the same as one sortable table (click a column heading);
- ``--dalperf-sarif F``: :mod:`dalperf.pytest_support.sarif`;
- ``--dalperf-update-baseline``: the baseline rewritten (:mod:`dalperf.pytest_support.baseline`).

Stale baseline entries (their test ran and the finding is gone) are listed in the terminal
summary, and pruned by an update.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dalperf import files
from dalperf.pytest_support import baseline
from dalperf.pytest_support.baseline import Entry
from dalperf.pytest_support.settings import Settings

if TYPE_CHECKING:
    from dalperf.capture.findings import Thresholds
    from dalperf.pytest_support.recorder import TestRecord

VERSION = 1


@dataclass
class Suite:
    settings: Settings
    accepted: frozenset[Entry] = frozenset()
    records: dict[str, TestRecord] = field(default_factory=dict)
    unsupported: set[str] = field(default_factory=set)
    thresholds: Thresholds | None = None  # set by the first test captured
    rootdir: Path = Path()  # pytest's rootdir: call sites are relative to it

    @classmethod
    def start(cls, settings: Settings, rootdir: Path) -> Suite:
        path = settings.baseline
        accepted = baseline.read(path) if path is not None and path.is_file() else frozenset()
        return cls(settings=settings, accepted=accepted, rootdir=rootdir)

    def add(self, record: TestRecord) -> None:
        self.records[record.test] = record
        self.unsupported.update(record.unsupported)

    def found(self) -> list[Entry]:
        """Every finding not allowed, as baseline entries."""
        return [Entry(r.test, f["kind"], f["label"]) for r in self.records.values()
                for f in r.findings if f["status"] != "allowed"]

    def stale(self) -> list[Entry]:
        """Baseline entries whose test ran without the finding."""
        found = set(self.found())
        return sorted(e for e in self.accepted if e.test in self.records and e not in found)

    def finish(self) -> list[Path]:
        """Write the files asked for; the paths written."""
        settings, written = self.settings, []
        if settings.update_baseline and settings.baseline is not None:
            baseline.write(settings.baseline,
                           baseline.updated(self.accepted, set(self.records), self.found()))
            written.append(settings.baseline)
        if settings.json_path is not None:
            files.write_atomic(settings.json_path, files.dumps(self.to_dict()))
            written.append(settings.json_path)
        if settings.html_path is not None:
            files.write_atomic(settings.html_path, self.html())
            written.append(settings.html_path)
        if settings.sarif_path is not None:
            from dalperf.pytest_support.sarif import sarif_log

            files.write_atomic(settings.sarif_path, files.dumps(sarif_log(self.records.values(),
                                                                  self.rootdir)))
            written.append(settings.sarif_path)
        return written

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, "rtt_ms": self.settings.rtt_ms,
                "tests": [asdict(r) for r in self.records.values()],
                "stale_baseline": [e._asdict() for e in self.stale()]}

    def html(self) -> str:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        environment = Environment(loader=PackageLoader("dalperf.reports", "templates"),
                                  autoescape=select_autoescape(default=True),
                                  undefined=StrictUndefined)
        return environment.get_template("pytest_suite.html.j2").render(
            tests=list(self.records.values()), rtt_ms=self.settings.rtt_ms, stale=self.stale())
