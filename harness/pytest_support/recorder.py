"""One test body under capture: its figures, its findings, and the verdict on them.

A :class:`BodyRecorder` is a process-wide :class:`~dalperf.capture.session.Capture` (every
engine, every thread) around the test's call phase; fixtures' set-up and tear-down are not
in it.  When the body ends, the findings (:func:`dalperf.capture.findings.detect`) are sorted
into *allowed* (``@pytest.mark.dalperf_allow`` or the ``dalperf_ignore`` ini patterns),
*baselined* (in ``--dalperf-baseline``) and *new*; only new findings fail (or warn, in warn
mode).  A budget marker is checked by :mod:`dalperf.gate.budgets`, as ``dalperf check`` does;
a budget on a body that sent no statement at all is a failure, never a silent pass.

Every message carries what no other plugin shows: round trips, network round trips (the
hidden BEGIN/COMMIT and connects included) and what they would cost at ``--dalperf-rtt-ms``,
and the rows fetched.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import pytest

from dalperf.capture import wire
from dalperf.capture.findings import Finding, Thresholds
from dalperf.capture.session import Capture
from dalperf.pytest_support.baseline import Entry
from dalperf.pytest_support.settings import ALLOW_MARKER, Settings
from dalperf.pytest_support.suite import TestRecord

if TYPE_CHECKING:
    from dalperf.pytest_support.prove import Proof

SQL_SHOWN = 240  # characters of a statement shape in a message
SLOWEST = 3  # statements listed per test in the suite report


class DalperfWarning(UserWarning):
    """A finding in warn mode, or statements dalperf could not measure."""


class BodyRecorder:
    """The capture of one test body and what is checked when it ends."""

    def __init__(
        self,
        item: pytest.Item,
        settings: Settings,
        baseline: frozenset[Entry],
        thresholds: Thresholds,
        budget_marker: pytest.Mark | None,
    ) -> None:
        self.item = item
        self.settings = settings
        self.baseline = baseline
        self.thresholds = thresholds
        self.budget_marker = budget_marker
        self.capture = Capture(None)
        self.record: TestRecord | None = None  # set by finish()
        self.new: list[Finding] = []  # the findings that fail or warn, set by finish()

    def __enter__(self) -> Self:
        self.capture.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.capture.__exit__(None, None, None)

    def finish(self, *, body_failed: bool, conclude: bool = True) -> tuple[TestRecord, str | None]:
        """The body's figures, and (unless the body failed already, or ``conclude`` is false:
        :meth:`conclude` later) the failure message for new findings and a budget exceeded,
        or None; warns in warn mode."""
        capture, item = self.capture, self.item
        every = capture.findings(self.thresholds) if self.settings.mode != "off" else []
        found = [f for f in every if not f.spread]
        statuses = [self._status(f) for f in found]
        record = TestRecord(
            test=item.nodeid,
            queries=capture.queries,
            findings=[self._describe(f, s) for f, s in zip(found, statuses, strict=True)],
            spread=[self._describe(f, "spread") for f in every if f.spread],
            unsupported=sorted(capture.unsupported),
            budget=dict(self.budget_marker.kwargs) if self.budget_marker else {},
        )
        if self.settings.reports_figures:
            record.round_trips, record.network_round_trips = (
                capture.round_trips,
                capture.network_round_trips,
            )
            record.rows_fetched, record.db_ms = capture.rows_fetched, round(capture.db_ms, 3)
            record.slowest = self._slowest()
        for seen in record.unsupported:
            self._warn(wire.unsupported_message(seen))
        if capture.uncounted_threads:
            names = ", ".join(capture.uncounted_threads)
            self._warn(
                f"not counted in this test: what {len(capture.uncounted_threads)} thread(s) "
                f"an earlier test started and left running sent ({names})"
            )
        self.record = record
        self.new = [f for f, s in zip(found, statuses, strict=True) if s == "new"]
        if body_failed or not conclude:
            return record, None
        return record, self.conclude()

    def conclude(self, proofs: Mapping[tuple[str, str], Proof] | None = None) -> str | None:
        """The failure message for new findings and a budget exceeded, or None (warns in
        warn mode), after :meth:`finish`; ``proofs``: what a rerun with each fix showed
        (``--dalperf-prove-fixes``), by ``(kind, label)``, added to the message and the record."""
        proofs = proofs or {}
        assert self.record is not None, "conclude() comes after finish()"
        for data in self.record.findings:
            proof = proofs.get((data["kind"], data["label"]))
            if proof is not None:
                data["fix_proof"] = proof.to_dict()
        problems = self._budget_problems(self.new)
        if (self.new and self.settings.mode == "fail") or problems:
            return self._message(problems, self.new, proofs)
        if self.new:
            self._warn(self._message([], self.new, proofs))
        return None

    def _slowest(self) -> list[dict[str, Any]]:
        """The body's slowest statements, for the suite report."""
        from dalperf.capture.fingerprint import shape
        from dalperf.gate.budgets import shorten_sql

        root = self.item.config.rootpath
        statements = self.capture.statements
        # call sites are sampled per text: an unsampled run shows where its text ran
        sites: dict[str, str] = {}
        for statement in statements:
            if statement.call_site is not None:
                sites.setdefault(statement.sql, statement.call_site)
        # placeholders as everywhere else ($1), whatever the driver's style
        return [
            {
                "sql": shorten_sql(shape(s.sql).normalized, SQL_SHOWN),
                "ms": round(s.duration_ms, 3),
                "call_site": relative_site(s.call_site or sites.get(s.sql), root),
            }
            for s in sorted(statements, key=lambda s: -s.duration_ms)[:SLOWEST]
        ]

    # sorting findings

    def _status(self, finding: Finding) -> str:
        allowed = [
            pattern
            for marker in self.item.iter_markers(ALLOW_MARKER)
            for pattern in (marker.args or ("*",))
        ]
        if any(_matches(finding, p) for p in (*allowed, *self.settings.ignore)):
            return "allowed"
        if (
            self.settings.update_baseline
            or Entry(self.item.nodeid, finding.kind.value, finding.label) in self.baseline
        ):
            return "baselined"
        return "new"

    def _describe(self, finding: Finding, status: str) -> dict[str, Any]:
        data = finding.to_dict()
        data["call_site"] = relative_site(finding.call_site, self.item.config.rootpath)
        path, line = split_site(data["call_site"])
        data.update(status=status, file=path, line=line)
        return data

    # the budget marker

    def _budget_problems(self, new: Sequence[Finding]) -> list[str]:
        marker = self.budget_marker
        if marker is None:
            return []
        capture = self.capture
        if capture.queries == 0:
            why = "".join(f"; {wire.unsupported_message(s)}" for s in sorted(capture.unsupported))
            return [
                (
                    f"{marker.name}: the test body sent no statement through any SQLAlchemy "
                    f"engine, so its limits {marker.kwargs} were checked against nothing{why}"
                )
            ]
        from dalperf.gate.budgets import Figures, breaches

        figures = Figures(
            queries=capture.queries,
            round_trips=capture.round_trips,
            network_round_trips=capture.network_round_trips,
            rows_fetched=capture.rows_fetched,
            n_plus_one=tuple(f.to_dict() for f in new),
        )
        found = breaches(marker.kwargs, figures)
        return [f"{marker.name} exceeded: " + "; ".join(b.message for b in found)] if found else []

    # messages

    def _message(
        self,
        problems: Sequence[str],
        new: Sequence[Finding],
        proofs: Mapping[tuple[str, str], Proof],
    ) -> str:
        from dalperf.gate.budgets import shorten_sql

        root = self.item.config.rootpath
        lines = list(problems)
        if new:
            noun = "finding" if len(new) == 1 else "findings"
            lines.append(f"dalperf: {len(new)} N+1 {noun}")
            for finding in new:
                lines.append(f"  {finding.message}")
                if finding.call_site:
                    lines.append(f"    first at {relative_site(finding.call_site, root)}")
                lines.append(f"    sql: {shorten_sql(finding.sql, SQL_SHOWN)}")
                lines.append(f"    fix: {finding.fix}")
                proof = proofs.get((finding.kind.value, finding.label))
                if proof is not None:
                    lines.append(f"    {proof.detail}")
        if self.capture.queries:
            lines.append("  " + figures_line(self.capture, self.settings.rtt_ms))
        if new:
            labels = ", ".join(f'"{f.label}"' for f in new)
            lines.append(
                f"  accept instead: @pytest.mark.{ALLOW_MARKER}({labels}), or record "
                "them with --dalperf-baseline FILE --dalperf-update-baseline"
            )
        if problems and self.capture.queries:
            lines.append(statements_by_fingerprint(self.capture, root))
        return "\n".join(lines)

    def _warn(self, message: str) -> None:
        path, line = self.item.location[0], self.item.location[1]
        warnings.warn_explicit(
            DalperfWarning(message),
            DalperfWarning,
            filename=str(self.item.config.rootpath / path),
            lineno=(line or 0) + 1,
        )


def thresholds_of(settings: Settings) -> Thresholds:
    """The finding thresholds of the session's ini settings."""
    from dalperf.capture.findings import RepeatScope

    return Thresholds(
        relationship=settings.thresholds["dalperf_relationship_threshold"],
        column_load=settings.thresholds["dalperf_column_load_threshold"],
        repeat=settings.thresholds["dalperf_repeat_threshold"],
        write_loop=settings.thresholds["dalperf_write_loop_threshold"],
        small_repeat=settings.thresholds["dalperf_small_repeat_threshold"],
        loop=settings.thresholds["dalperf_loop_threshold"],
        unused_eager_load=settings.unused_eager_load,
        scope=RepeatScope(settings.repeat_scope),
    )


def figures_line(capture: Capture, rtt_ms: float) -> str:
    """``26 queries, 26 round trips deep, 30 network round trips ≈ 30 ms at 1 ms RTT, ...``"""
    network = capture.network_round_trips
    return (
        f"test body: {capture.queries} queries, {capture.round_trips} round trips deep, "
        f"{network} network round trips \u2248 {network * rtt_ms:g} ms at {rtt_ms:g} ms RTT "
        f"(--dalperf-rtt-ms), {capture.rows_fetched} rows fetched, "
        f"{capture.db_ms:.1f} ms in the database"
    )


def statements_by_fingerprint(capture: Capture, root: Path | None = None) -> str:
    """The captured statements grouped by fingerprint: count, shape, sampled call sites."""
    from dalperf.gate.budgets import shorten_sql

    sites: dict[str, dict[str, None]] = {}
    for statement in capture.statements:
        if statement.call_site is not None:
            site = relative_site(statement.call_site, root) if root else statement.call_site
            if site is not None:
                sites.setdefault(statement.fingerprint, {})[site] = None
    totals = capture.fingerprints()
    lines = [
        (
            f"captured {capture.queries} statement(s), {capture.round_trips} round trip(s) "
            f"deep, in {len(totals)} shape(s):"
        )
    ]
    for total in totals:
        lines.append(f"  {total.count:>5}x  {shorten_sql(total.sql, SQL_SHOWN)}")
        lines.extend(f"          at {site}" for site in sites.get(total.fingerprint, ()))
    return "\n".join(lines)


def relative_site(site: str | None, root: Path) -> str | None:
    """``path:line in function`` with the path relative to ``root`` when it is under it."""
    if site is None:
        return None
    path, _line = split_site(site)
    if path is None:
        return site
    try:
        shown = os.path.relpath(path, root) if Path(path).is_relative_to(root) else path
    except ValueError:
        shown = path
    return site.replace(path, shown, 1)


def split_site(site: str | None) -> tuple[str | None, int | None]:
    """``(path, line)`` of a ``path:line in function`` call site."""
    if not site:
        return None, None
    location = site.rpartition(" in ")[0] or site
    path, _, line = location.rpartition(":")
    return (path, int(line)) if path and line.isdigit() else (None, None)


def _matches(finding: Finding, pattern: str) -> bool:
    return fnmatchcase(finding.label, pattern) or fnmatchcase(
        f"{finding.kind.value}:{finding.label}", pattern
    )
