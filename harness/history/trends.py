"""The trends report's model: the points of a history grouped into series on one commit axis,
each with its pinned count changes and latency shifts.

The report reads nothing but the points it is given.  Commits form one axis, in the order
the points arrive (oldest first), so every series' lines line up commit for commit; a
series that was not measured at some commit simply has no point there.  When a series has
two points at one commit (a result re-added), the later one counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dalperf.history.changes import (
    COUNT_FIGURES,
    CountChange,
    LatencyShift,
    count_changes,
    latency_shifts,
)
from dalperf.history.model import Commit, Point, SeriesKey

__all__ = ["Marker", "SeriesView", "Trends", "build", "short_sha"]

KIND_ORDER = {"audit": 0, "load": 1, "plugin": 2}
_ANCHOR_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Marker:
    """The deterministic figures of one series that changed at one commit: one marker on
    its charts, one row of its tables."""

    key: SeriesKey
    commit: Commit
    previous: Commit
    position: int  # on Trends.commits
    changes: tuple[CountChange, ...]

    @property
    def figures(self) -> list[str]:
        """The count figures that changed here (none when only the plan shapes did)."""
        return [c.figure for c in self.changes if c.before is not None]

    @property
    def plans_before(self) -> tuple[str, ...]:
        """The plan shapes at the commit before."""
        return self.changes[0].plans_before

    @property
    def plans_after(self) -> tuple[str, ...]:
        """The plan shapes at the marker's commit."""
        return self.changes[0].plans_after


@dataclass(frozen=True, slots=True)
class SeriesView:
    """One series: its points (oldest first), where each sits on the report's commit axis,
    and what changed in it."""

    key: SeriesKey
    points: tuple[Point, ...]
    positions: tuple[int, ...]  # index on Trends.commits of each point's commit
    changes: tuple[CountChange, ...]
    shifts: tuple[LatencyShift, ...]
    anchor: str

    @property
    def title(self) -> str:
        """The series as people name it: ``renders.get_by_ids/optimized`` (``[series]``
        added when it is not the default one)."""
        suffix = "" if self.key.series == "default" else f" [{self.key.series}]"
        return f"{self.key.name}{suffix}"

    @property
    def changed(self) -> bool:
        """Whether anything was pinned or shifted in this series."""
        return bool(self.changes or self.shifts)

    def figures(self) -> list[str]:
        """The deterministic figures this series recorded at least once, in report order."""
        return [f for f in COUNT_FIGURES if any(getattr(p, f) is not None for p in self.points)]

    def markers(self) -> list[Marker]:
        """The count changes grouped by commit, oldest first."""
        grouped: dict[int, list[CountChange]] = {}
        for change in self.changes:
            grouped.setdefault(change.index, []).append(change)
        return [
            Marker(
                key=self.key,
                commit=found[0].commit,
                previous=found[0].previous,
                position=self.positions[index],
                changes=tuple(found),
            )
            for index, found in grouped.items()
        ]

    def has_latency(self) -> bool:
        """Whether any of its commits recorded a latency (plugin tests do not)."""
        return any(p.p50_ms is not None or p.p95_ms is not None for p in self.points)

    def last_change_position(self) -> int:
        """Where on the commit axis its latest change or shift is (-1: none)."""
        return max(
            [self.positions[c.index] for c in self.changes]
            + [self.positions[s.index] for s in self.shifts],
            default=-1,
        )


@dataclass(frozen=True, slots=True)
class Trends:
    """Every series of a history on one commit axis; series that changed come first (the
    most recently changed first), then the others by kind and name."""

    commits: tuple[Commit, ...]
    series: tuple[SeriesView, ...]

    def markers(self) -> list[Marker]:
        """Every series' markers, newest commit first."""
        return sorted((m for s in self.series for m in s.markers()), key=lambda m: -m.position)

    @property
    def shifts(self) -> list[LatencyShift]:
        """Every latency shift, newest commit first."""
        found = [(s.positions[x.index], x) for s in self.series for x in s.shifts]
        return [x for _, x in sorted(found, key=lambda pair: -pair[0])]


def build(points: Sequence[Point]) -> Trends:
    """Group ``points`` (oldest first) into series and detect each series' changes."""
    commits: dict[str, int] = {}
    axis: list[Commit] = []
    grouped: dict[SeriesKey, dict[str, Point]] = {}
    for point in points:
        if point.commit.sha not in commits:
            commits[point.commit.sha] = len(axis)
            axis.append(point.commit)
        grouped.setdefault(point.key, {})[point.commit.sha] = point
    views = []
    anchors: set[str] = set()
    for key, by_sha in grouped.items():
        ordered = sorted(by_sha.values(), key=lambda p: commits[p.commit.sha])
        views.append(
            SeriesView(
                key=key,
                points=tuple(ordered),
                positions=tuple(commits[p.commit.sha] for p in ordered),
                changes=tuple(count_changes(ordered)),
                shifts=tuple(latency_shifts(ordered)),
                anchor=_anchor(key, anchors),
            )
        )
    views.sort(
        key=lambda v: (
            not v.changed,
            -v.last_change_position(),
            KIND_ORDER.get(v.key.kind, len(KIND_ORDER)),
            v.key.kind,
            v.key.name,
            v.key.series,
        )
    )
    return Trends(commits=tuple(axis), series=tuple(views))


def short_sha(commit: Commit) -> str:
    """The commit's sha as git abbreviates it by default (seven characters)."""
    return commit.sha[:7]


def _anchor(key: SeriesKey, taken: set[str]) -> str:
    """An HTML id for the series, unique within the page and safe in a URL fragment."""
    base = "series-" + _ANCHOR_UNSAFE.sub("-", f"{key.kind}-{key.name}-{key.series}").strip("-")
    anchor, number = base, 2
    while anchor in taken:
        anchor, number = f"{base}-{number}", number + 1
    taken.add(anchor)
    return anchor
