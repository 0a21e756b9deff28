"""Round trips on the critical path: the heaviest chain of intervals that do not overlap.

Two intervals are sequential when one ends no later than the other starts; a chain is a
set of pairwise sequential intervals, and its weight the sum of their round trips.  Four
statements one after the other form a chain of 4; four that ran together overlap, and no
chain holds more than one of them.  Intervals that merely touch (one ends at the instant
the other starts) are sequential.

Weighted interval scheduling: intervals sorted by end; the best chain ending with interval
i is its weight plus the best chain among the intervals that end by its start.  O(n log n);
when no two intervals overlap (the usual case) the chain is all of them, which is checked
first.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from itertools import pairwise
from operator import itemgetter
from typing import NamedTuple

_BY_END = itemgetter(1, 0)


class Span(NamedTuple):
    start_ns: int
    end_ns: int
    round_trips: int = 1


def critical_path(spans: Iterable[Span]) -> int:
    """The largest total of ``round_trips`` over chains of non-overlapping spans."""
    ordered = sorted(spans, key=_BY_END)
    if all(later.start_ns >= earlier.end_ns for earlier, later in pairwise(ordered)):
        return sum(span.round_trips for span in ordered)
    ends = [span.end_ns for span in ordered]
    best = [0] * (len(ordered) + 1)  # best[k]: heaviest chain among the first k spans
    for index, span in enumerate(ordered):
        before = bisect_right(ends, span.start_ns, 0, index)
        best[index + 1] = max(best[index], best[before] + span.round_trips)
    return best[-1]
