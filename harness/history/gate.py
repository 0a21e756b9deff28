"""The history gate: a head result against the last N main-branch results of its series.

Deterministic figures (queries, round trips, network round trips, buffers, rows fetched)
are the same on every run of the same code and data, so each is compared with the newest
window result's: any rise fails, named with the commits that held the old value (the run of
window results at it, oldest to newest) and the head commit.  A plan shape is deterministic
too: a statement whose shape differs from the newest window result's fails (unless plan
changes are allowed), shown before and after, and named beside any rise it explains.

Latency is not: one run's p95 is one draw from a noisy distribution.  The head's p95 fails
only when it lies above **every** p95 of the window *and* above the window's median p95 by
more than the tolerance (default 10 %).  Under no change, the head's p95 is as likely as any
window run's to be the largest, so with a window of ``n`` runs the first condition alone
fails a run by chance with probability ``1 / (n + 1)`` (under 5 % with the default 20
results); the tolerance removes those of a small effect, and a shift well beyond the
tolerance fails (nearly) every time.  It needs :data:`MIN_LATENCY_WINDOW` results with a p95; below that,
latency is noted and not judged.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from dalperf.errors import UsageError
from dalperf.history.ingest import Figures, Ingested
from dalperf.history.model import Point
from dalperf.history.store import Store, StoredResult

DEFAULT_WINDOW = 20
DEFAULT_TOLERANCE = 0.10
MIN_LATENCY_WINDOW = 5
COUNTS = ("queries", "round_trips", "network_round_trips", "buffers", "rows_fetched")
SHORT_SHA = 10


@dataclass(frozen=True, slots=True)
class Finding:
    """One regression of one series key: which figure, and the sentence that names it."""

    name: str
    figure: str  # a count's name, "plan shape" or "p95"
    message: str
    before: tuple[str, ...] = ()  # plan shapes before and after, for a plan change
    after: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`check` found: regressions, notes, and the window it compared with."""

    findings: tuple[Finding, ...]
    notes: tuple[str, ...]
    window: tuple[StoredResult, ...]
    compared: int  # series keys of the head found in the window

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def span(self) -> str:
        """``first..last`` commits of the window."""
        if not self.window:
            return "no results"
        return f"{_short(self.window[0])}..{_short(self.window[-1])}"


@dataclass(slots=True)
class _Collected:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check(
    store: Store,
    head: Ingested,
    *,
    head_sha: str | None = None,
    branch: str = "main",
    series: str = "default",
    window: int = DEFAULT_WINDOW,
    tolerance: float = DEFAULT_TOLERANCE,
    allow_plan_change: bool = False,
) -> Verdict:
    """Judge ``head`` (measured at ``head_sha``, if known) against the newest ``window``
    results of ``branch`` in its kind and ``series``; results another series'
    comparability refuses are a :class:`UsageError`."""
    if window < 1:
        raise UsageError(f"--window {window}: give at least 1")
    if tolerance < 0:
        raise UsageError(f"--tolerance {tolerance:g}: give a fraction of at least 0")
    held = store.comparability(head.kind, series)
    if held is not None:
        differences = head.comparability.differences(held)
        if differences:
            raise UsageError(
                f"{head.source} is not comparable with {head.kind} series "
                f"{series!r}: {'; '.join(differences)}; check it with "
                "--series NAME"
            )
    results = store.window(
        kind=head.kind, series=series, branch=branch, size=window, exclude_sha=head_sha
    )
    collected = _Collected()
    if not results:
        collected.notes.append(
            f"nothing to compare: the store has no {branch} results of "
            f"{head.kind} series {series!r}"
        )
        return Verdict(findings=(), notes=tuple(collected.notes), window=(), compared=0)
    head_label = head_sha[:SHORT_SHA] if head_sha else "the head"
    compared = 0
    for figures in head.figures:
        history = [
            (stored, points[figures.name]) for stored, points in results if figures.name in points
        ]
        if not history:
            collected.notes.append(f"{figures.name}: not in the window, not compared")
            continue
        compared += 1
        _deterministic(figures, history, head_label, allow_plan_change, collected)
        _latency(figures, history, head_label, tolerance, collected)
    return Verdict(
        findings=tuple(collected.findings),
        notes=tuple(collected.notes),
        window=tuple(s for s, _ in results),
        compared=compared,
    )


def _deterministic(
    head: Figures,
    history: Sequence[tuple[StoredResult, Point]],
    head_label: str,
    allow_plan_change: bool,
    collected: _Collected,
) -> None:
    last_result, last = history[-1]
    shapes_changed = (
        bool(last.plan_shapes) and bool(head.plan_shapes) and head.plan_shapes != last.plan_shapes
    )
    plan_note = "; its plan shape changed" if shapes_changed else ""
    for figure in COUNTS:
        now, before = getattr(head, figure), getattr(last, figure)
        if now is None or before is None or now <= before:
            continue
        since = _held_since(history, figure, before)
        collected.findings.append(
            Finding(
                name=head.name,
                figure=figure,
                message=f"{head.name}: {figure.replace('_', ' ')} rose from {before} to {now} "
                f"({before} held on {last_result.commit.branch} {_short(since)}.."
                f"{_short(last_result)}, {now} at {head_label}){plan_note}",
                # the shapes are shown once: with the plan-shape finding, else with the count
                before=last.plan_shapes if shapes_changed and allow_plan_change else (),
                after=head.plan_shapes if shapes_changed and allow_plan_change else (),
            )
        )
    if shapes_changed:
        message = f"{head.name}: plan shape changed since {_short(last_result)} (at {head_label})"
        if allow_plan_change:
            collected.notes.append(message + ", allowed")
        else:
            collected.findings.append(
                Finding(
                    name=head.name,
                    figure="plan shape",
                    message=message,
                    before=last.plan_shapes,
                    after=head.plan_shapes,
                )
            )


def _latency(
    head: Figures,
    history: Sequence[tuple[StoredResult, Point]],
    head_label: str,
    tolerance: float,
    collected: _Collected,
) -> None:
    if head.p95_ms is None:
        return
    values = [(stored, point.p95_ms) for stored, point in history if point.p95_ms is not None]
    if len(values) < MIN_LATENCY_WINDOW:
        collected.notes.append(
            f"{head.name}: p95 not judged, {len(values)} result(s) with "
            f"a p95 in the window (at least {MIN_LATENCY_WINDOW} needed)"
        )
        return
    p95s = [v for _, v in values]
    highest, median = max(p95s), statistics.median(p95s)
    limit = median * (1 + tolerance)
    if head.p95_ms > highest and head.p95_ms > limit:
        rise = (head.p95_ms / median - 1) * 100 if median > 0 else float("inf")
        collected.findings.append(
            Finding(
                name=head.name,
                figure="p95",
                message=f"{head.name}: p95 {head.p95_ms:.3f} ms at {head_label} is above every "
                f"p95 of the last {len(values)} results ({_short(values[0][0])}.."
                f"{_short(values[-1][0])}: max {highest:.3f} ms, median {median:.3f} ms; "
                f"+{rise:.0f}% against a tolerance of {tolerance * 100:g}%)",
            )
        )


def _held_since(
    history: Sequence[tuple[StoredResult, Point]], figure: str, value: int
) -> StoredResult:
    """The oldest result of the trailing run of ``history`` at ``value``."""
    since = history[-1][0]
    for stored, point in reversed(history):
        if getattr(point, figure) != value:
            break
        since = stored
    return since


def _short(stored: StoredResult) -> str:
    return stored.commit.sha[:SHORT_SHA]


def markdown_summary(verdict: Verdict, *, source: str, branch: str) -> str:
    """The verdict as Markdown for a CI step summary: the regressions (a changed plan's
    shapes before and after), then the notes."""
    if not verdict.window:
        return f"### dalperf history check: {_md(source)}\n\n{_md('; '.join(verdict.notes))}\n\n"
    head = (
        f"### dalperf history check: {_md(source)}, "
        + ("no regression" if verdict.passed else f"{len(verdict.findings)} regression(s)")
        + f" against the last {len(verdict.window)} {branch} results ({verdict.span})\n\n"
    )
    lines = [head]
    for finding in verdict.findings:
        lines.append(f"- {_md(finding.message)}\n")
        for label, shapes in (("before", finding.before), ("after", finding.after)):
            if shapes:
                body = "\n\n".join(shapes)
                lines.append(
                    f"\n  plan shapes {label}:\n\n  ```text\n"
                    + "".join(f"  {line}\n" for line in body.splitlines())
                    + "  ```\n"
                )
    if verdict.notes:
        lines.append(
            "\n<details><summary>notes</summary>\n\n"
            + "".join(f"- {_md(note)}\n" for note in verdict.notes)
            + "\n</details>\n"
        )
    return "".join(lines) + "\n"


def _md(text: str) -> str:
    """``text`` safe in a Markdown list item: no HTML, no emphasis or table syntax."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("*", "\\*")
        .replace("_", "\\_")
        .replace("|", "\\|")
    )
