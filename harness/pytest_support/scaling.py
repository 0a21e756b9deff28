"""``dalperf_scaling(fn, sizes=[1, 10, 50])``: does the query count grow with the data?

``fn(size)`` runs once per size (after one unmeasured warm-up call at the first size:
pool, caches, the dialect's first connection) under a process-wide capture; the query
counts are fitted against the sizes with the same fit ``dalperf run`` uses
(:func:`dalperf.measure.complexity.fit_complexity`).  Anything but ``O(1)`` fails the test
with the fitted verdict and slope, unless ``allow="O(n)"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dalperf.capture.session import Capture
from dalperf.measure.complexity import fit_complexity
from dalperf.results.model import Complexity

DEFAULT_SIZES = (1, 10, 50)
ALLOWED = ("O(1)", "O(n)")


@dataclass(frozen=True, kw_only=True)
class Scaling:
    """The fit, and per size the queries, network round trips, rows fetched and returned."""

    complexity: Complexity
    network_round_trips: tuple[int, ...]
    rows_fetched: tuple[int, ...]
    rows_returned: tuple[int, ...]

    def message(self, rtt_ms: float) -> str:
        c = self.complexity
        sizes = ", ".join(map(str, c.sizes))
        lines = [
            (
                f"dalperf_scaling: the query count grows {c.verdict}: slope {c.slope:g} queries "
                f"per unit of size (sizes {sizes} \u2192 queries "
                f"{', '.join(map(str, c.queries))})"
            )
        ]
        for size, q, n, f, r in zip(
            c.sizes,
            c.queries,
            self.network_round_trips,
            self.rows_fetched,
            self.rows_returned,
            strict=True,
        ):
            lines.append(
                f"  size {size}: {q} queries, {n} network round trips \u2248 "
                f"{n * rtt_ms:g} ms at {rtt_ms:g} ms RTT, {f} rows fetched, "
                f"{r} returned"
            )
        return "\n".join(lines)


def measure(fn: Callable[[int], Any], sizes: Sequence[int]) -> Scaling:
    """Run ``fn`` at every size under a capture of its own; ValueError on bad sizes."""
    if (
        len(sizes) < 2
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in sizes)
        or len(set(sizes)) < 2
    ):
        raise ValueError(f"sizes must be two or more different whole numbers >= 0, not {sizes!r}")
    fn(sizes[0])  # warm-up
    queries, network, fetched, returned = [], [], [], []
    for size in sizes:
        with Capture(None) as capture:
            result = fn(size)
        queries.append(capture.queries)
        network.append(capture.network_round_trips)
        fetched.append(capture.rows_fetched)
        returned.append(_count(result))
    return Scaling(
        complexity=fit_complexity(sizes, queries),
        network_round_trips=tuple(network),
        rows_fetched=tuple(fetched),
        rows_returned=tuple(returned),
    )


def _count(result: Any) -> int:
    if result is None:
        return 0
    try:
        return len(result)
    except TypeError:
        return 1
