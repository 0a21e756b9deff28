"""Figures derived from captured statements: per-fingerprint totals and N+1 groups.

An N+1 group is a fingerprint executed two or more times within one capture with at
least two different parameter sets (the same statement repeated with the same
parameters is a duplicate, not an N+1).  Its call site is the one most often recorded
for that fingerprint: call sites are only taken for repeated fingerprints, sampled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dalperf.capture.fingerprint import shape
from dalperf.capture.records import NS_PER_MS, Statement


@dataclass(frozen=True, slots=True, kw_only=True)
class FingerprintTotal:
    fingerprint: str
    sql: str
    count: int
    total_ms: float


@dataclass(frozen=True, slots=True, kw_only=True)
class NPlusOne:
    fingerprint: str
    sql: str
    count: int
    call_site: str | None


def fingerprint_totals(statements: Iterable[Statement]) -> list[FingerprintTotal]:
    """One entry per fingerprint, most executed first (then most time, then fingerprint)."""
    groups = _group(statements)
    totals = [
        FingerprintTotal(
            fingerprint=fp, sql=shape(group[0].sql).normalized, count=len(group),
            total_ms=sum(s.end_ns - s.start_ns for s in group) / NS_PER_MS,
        )
        for fp, group in groups.items()
    ]
    return sorted(totals, key=lambda t: (-t.count, -t.total_ms, t.fingerprint))


def n_plus_one(statements: Iterable[Statement]) -> list[NPlusOne]:
    """The N+1 groups, largest first."""
    found = [
        NPlusOne(fingerprint=fp, sql=shape(group[0].sql).normalized, count=len(group),
                 call_site=_most_common_site(group))
        for fp, group in _group(statements).items()
        if len(group) >= 2 and len({repr(s.parameters) for s in group}) >= 2
    ]
    return sorted(found, key=lambda g: (-g.count, g.fingerprint))


def _group(statements: Iterable[Statement]) -> dict[str, list[Statement]]:
    groups: dict[str, list[Statement]] = {}
    for statement in statements:
        groups.setdefault(statement.fingerprint, []).append(statement)
    return groups


def _most_common_site(group: Sequence[Statement]) -> str | None:
    sites = Counter(s.call_site for s in group if s.call_site is not None)
    return sites.most_common(1)[0][0] if sites else None
