"""Figures derived from captured statements: per-fingerprint totals, N+1 groups, findings.

An N+1 group is a fingerprint executed two or more times within one capture with at
least two different parameter sets (the same statement repeated with the same
parameters is a duplicate, not an N+1).  Its call site is the one most often recorded
for that fingerprint: call sites are only taken for repeated fingerprints, sampled.

A :class:`Finding` (:func:`detect`) names the problem as the code wrote it, using what the ORM
said it was loading (:mod:`dalperf.capture.orm`), with the line to paste that fixes it:

- ``lazy-load``: one relationship (``Post.comments``) lazy-loaded for at least
  :attr:`Thresholds.relationship` different parent objects; fix ``selectinload`` for a
  collection, ``joinedload`` for a many-to-one, chained after the loaders that brought the
  parents in.  ``selectinload``/``subqueryload`` statements load for many parents at once
  and never count.
- ``column-reload``: deferred or expired columns of one class loaded one object at a time
  for at least :attr:`Thresholds.column_load` objects; fix ``undefer`` or
  ``expire_on_commit=False``.
- ``repeated-statement``: a SELECT the ORM did not tag (Core, ``text()``, a top-level ORM
  query) run at least :attr:`Thresholds.repeat` times; catalog reads are left out.
- ``write-loop`` (off unless :attr:`Thresholds.write_loop` > 0): the same INSERT, UPDATE or
  DELETE sent row by row (``executemany`` batches are one statement and never count).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from dalperf.capture.fingerprint import shape
from dalperf.capture.orm import LoadKind
from dalperf.capture.records import NS_PER_MS, Statement

_CATALOG = ("pg_catalog.", "information_schema.")
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+((?:\"[^\"]+\"|[\w$]+)(?:\.(?:\"[^\"]+\"|[\w$]+))?)",
                    re.IGNORECASE)


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


# --------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------


class FindingKind(StrEnum):
    LAZY_LOAD = "lazy-load"
    COLUMN_RELOAD = "column-reload"
    REPEATED_STATEMENT = "repeated-statement"
    WRITE_LOOP = "write-loop"


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """From how many repetitions each kind of finding is reported (0: never)."""

    relationship: int = 2  # different parent objects lazy-loading one relationship
    column_load: int = 5  # different objects reloading columns of one class
    repeat: int = 5  # runs of one SELECT
    write_loop: int = 0  # runs of one INSERT/UPDATE/DELETE, row by row; off by default

    @property
    def least_untagged(self) -> int:
        """The fewest statements the ORM did not tag that can make a finding (0: none can)."""
        return min((t for t in (self.repeat, self.write_loop) if t), default=0)


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem: what (``label``, as the code names it), how often, where, and the fix.

    ``label`` is stable across runs and edits of the SQL (a relationship, a class, or the
    statement's verb and table), so that ``(kind, label)`` identifies a finding in a baseline.
    ``objects`` is how many different parents, objects or parameter sets were involved.
    """

    kind: FindingKind
    label: str
    count: int
    objects: int
    call_site: str | None
    sql: str
    fix: str
    message: str
    db_ms: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["db_ms"] = round(self.db_ms, 3)
        return data


def detect(statements: Iterable[Statement], thresholds: Thresholds) -> list[Finding]:
    """Every finding in ``statements``, most statements first."""
    lazy: dict[str, list[Statement]] = {}
    columns: dict[tuple[str, bool, tuple[str, ...]], list[Statement]] = {}
    untagged: list[Statement] = []
    for statement in sorted(statements, key=lambda s: s.start_ns):
        tag = statement.orm
        if tag is None:
            untagged.append(statement)
        elif tag.kind is LoadKind.LAZY:
            lazy.setdefault(tag.label, []).append(statement)
        elif tag.kind is LoadKind.COLUMNS:
            key = (tag.label, tag.expired, () if tag.expired else tag.columns)
            columns.setdefault(key, []).append(statement)
    found = [f for group in lazy.values() if (f := _lazy_load(group, thresholds)) is not None]
    found += [f for group in columns.values()
              if (f := _column_reload(group, thresholds)) is not None]
    # grouped by fingerprint (which parses them) only when there are enough for a finding
    least = thresholds.least_untagged
    if least and len(untagged) >= least:
        plain = _group(untagged)
        found += [f for group in plain.values()
                  if (f := _repeated(group, thresholds)) is not None]
    return sorted(found, key=lambda f: (-f.count, f.kind.value, f.label))


def _lazy_load(group: list[Statement], thresholds: Thresholds) -> Finding | None:
    tag = group[0].orm
    parents = len({s.orm.parent for s in group})
    if not thresholds.relationship or parents < thresholds.relationship:
        return None
    owner, _, _ = tag.label.partition(".")
    loader = "selectinload" if tag.collection else "joinedload"
    chain = [f"selectinload({label})" for label in tag.path]
    root = tag.path[0].partition(".")[0] if tag.path else owner
    fix = f"select({root}).options({'.'.join([*chain, f'{loader}({tag.label})'])})"
    return _finding(FindingKind.LAZY_LOAD, tag.label, group, parents, fix,
                    f"{tag.label} was lazy-loaded {len(group)} times, once per {owner} "
                    f"({parents} objects)")


def _column_reload(group: list[Statement], thresholds: Thresholds) -> Finding | None:
    tag = group[0].orm
    objects = len({s.orm.parent for s in group})
    if not thresholds.column_load or objects < thresholds.column_load:
        return None
    if tag.expired:
        return _finding(FindingKind.COLUMN_RELOAD, f"{tag.label} (expired)", group, objects,
                        "sessionmaker(engine, expire_on_commit=False)  # or session.expire_on_commit = False",
                        f"{tag.label} objects had their expired columns reloaded one object "
                        f"at a time, {len(group)} times (after commit(), expire() or "
                        f"expire_all())")
    attributes = ", ".join(f"{tag.label}.{c}" for c in tag.columns)
    undefer = ", ".join(f"undefer({tag.label}.{c})" for c in tag.columns)
    return _finding(FindingKind.COLUMN_RELOAD, attributes, group, objects,
                    f"select({tag.label}).options({undefer})",
                    f"{attributes} (deferred) was loaded on its own {len(group)} times, once "
                    f"per {tag.label} ({objects} objects)")


def _repeated(group: list[Statement], thresholds: Thresholds) -> Finding | None:
    if any(s.executemany for s in group):
        return None
    sql = shape(group[0].sql).normalized
    verb = sql.split(None, 1)[0].upper() if sql else ""
    if any(c in sql for c in _CATALOG):
        return None
    variants = len({repr(s.parameters) for s in group})
    table = _table(sql)
    if verb in ("SELECT", "WITH"):
        if not thresholds.repeat or len(group) < thresholds.repeat:
            return None
        fix = ("fetch them in one statement: .where(column.in_(values)), or "
               "WHERE column = ANY(:values) in text()" if variants > 1
               else "run it once and reuse the result")
        different = f" with {variants} different parameter sets" if variants > 1 else ""
        return _finding(FindingKind.REPEATED_STATEMENT, f"SELECT {table}", group, variants, fix,
                        f"the same SELECT on {table} ran {len(group)} times{different}")
    if verb in ("INSERT", "UPDATE", "DELETE"):
        if not thresholds.write_loop or len(group) < thresholds.write_loop:
            return None
        fix = {"INSERT": f"one statement for all rows: connection.execute(insert({table}), rows)",
               "UPDATE": f"one statement for all rows: session.execute(update({table}), rows) "
                         "(bulk UPDATE by primary key)",
               "DELETE": f"one statement: delete({table}).where(column.in_(values))"}[verb]
        return _finding(FindingKind.WRITE_LOOP, f"{verb} {table}", group, variants, fix,
                        f"the same {verb} on {table} ran {len(group)} times, one row at a time")
    return None


def _finding(kind: FindingKind, label: str, group: list[Statement], objects: int, fix: str,
             message: str) -> Finding:
    site = next((s.call_site for s in group if s.call_site is not None), None)
    return Finding(kind=kind, label=label, count=len(group), objects=objects, call_site=site,
                   sql=shape(group[0].sql).normalized, fix=fix, message=message,
                   db_ms=sum(s.end_ns - s.start_ns for s in group) / NS_PER_MS)


def _table(sql: str) -> str:
    match = _TABLE.search(sql)
    return match.group(1).replace('"', "") if match else "?"
