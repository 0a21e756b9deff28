"""Figures derived from captured statements: per-fingerprint totals, N+1 groups, findings.

An N+1 group is a fingerprint executed two or more times within one capture with at
least two different parameter sets (the same statement repeated with the same
parameters is a duplicate, not an N+1).  Its call site is the one most often recorded
for that fingerprint (call sites are sampled: see :mod:`dalperf.capture.recorder`).

A :class:`Finding` (:func:`detect`) names the problem as the code wrote it, using what the ORM
said it was loading (:mod:`dalperf.capture.orm`), with the line to paste that fixes it.  A
threshold must be reached inside one unit of work (a Session, a connection checkout, an HTTP
request: :mod:`dalperf.capture.units`), or by one loop of the app (one call-site line,
reached from one caller line, sending the statement across units, each round its own
Session, within one request or outside requests); repeats spread over requests otherwise (each request runs it once) are
findings marked ``spread``, which never fail.  :attr:`Thresholds.scope` ``test`` counts the whole capture instead.

- ``lazy-load``: one relationship (``Post.comments``) lazy-loaded for at least
  :attr:`Thresholds.relationship` different parent objects; fix ``selectinload`` for a
  collection, ``joinedload`` for a many-to-one, chained after the loaders that brought the
  parents in; ``recursion_depth`` for a relationship of a class to itself; a batched
  query by key when each parent was loaded on its own (``session.get`` in a loop).
  ``selectinload``/``subqueryload`` statements load for many parents at once and never
  count, nor does SQLAlchemy's per-object load of a relationship mapped as eager.
- ``column-reload``: deferred or expired columns of one class loaded one object at a time
  for at least :attr:`Thresholds.column_load` objects, or ``session.refresh()`` of that many
  objects; fix ``undefer``, ``expire_on_commit=False`` or one ``populate_existing`` query.
  The reload of an object a flush just wrote (refresh after write) never counts.
- ``repeated-statement``: a SELECT the ORM did not tag (Core, ``text()``, a top-level ORM
  query, ``session.get``) run with at least :attr:`Thresholds.repeat` different parameter
  sets (or inlined literals), or with the same parameters that many times back to back (a
  loop-invariant query); runs that wait in between (polling) are not findings, nor are pages (:func:`dalperf.capture.batches.pages`), ``IN`` chunks
  (:func:`dalperf.capture.batches.chunks`) or catalog reads.  Below the threshold, from
  :attr:`Thresholds.loop` keys, when one unit of work ran it once per iteration of one
  loop (:meth:`_Judge.short_loop`: a new key each run, one transaction, the same other
  statements between each run and the next, every sampled site on one line reached from
  one caller line): a loop over 3 or 4 parents is already a loop.  A body of the lookup
  alone (nothing between the runs) needs every run's site, all one line from one caller
  line (a list of lookups written out has a line each); a statement of a recognised loop's
  body sent with the same parameters in every iteration is reported with the loop, as a
  loop-invariant query.
  With :attr:`Thresholds.small_repeat` (off by default), lookups of one table by key
  (``session.get``, ``WHERE id = $1``) count from that many different keys instead: the 2-4
  ``get`` calls of a checkout page that one ``IN`` query would make.
- ``unused-eager-load`` (off unless :attr:`Thresholds.unused_eager_load`): a relationship a
  ``selectinload``/``subqueryload`` statement loaded, or a query's ``joinedload`` option
  filled from its own rows, that the code never read.
- ``write-loop`` (off unless :attr:`Thresholds.write_loop` > 0): the same INSERT, UPDATE or
  DELETE sent row by row (``executemany`` and insertmanyvalues batches never count); the fix
  names the mapped class when one maps the table, and keeps an upsert's ``ON CONFLICT``.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from itertools import pairwise
from typing import Any

from dalperf.capture import batches
from dalperf.capture.fingerprint import shape
from dalperf.capture.orm import LoadKind
from dalperf.capture.records import NS_PER_MS, Statement
from dalperf.capture.units import CONNECTION, REQUEST, SESSION, Unit

_CATALOG = ("pg_catalog.", "information_schema.")
# identical runs each this long apart wait for something (polling sleeps between looks); a
# loop-invariant query, however preempted on a busy machine, has some runs back to back
POLL_GAP_NS = 2_000_000
_TABLE = re.compile(
    r"\b(?:FROM|INTO|UPDATE)\s+((?:\"[^\"]+\"|[\w$]+)(?:\.(?:\"[^\"]+\"|[\w$]+))?)", re.IGNORECASE
)


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
            fingerprint=fp,
            sql=shape(group[0].sql).normalized,
            count=len(group),
            total_ms=sum(s.end_ns - s.start_ns for s in group) / NS_PER_MS,
        )
        for fp, group in groups.items()
    ]
    return sorted(totals, key=lambda t: (-t.count, -t.total_ms, t.fingerprint))


def n_plus_one(statements: Iterable[Statement]) -> list[NPlusOne]:
    """The N+1 groups, largest first."""
    found = [
        NPlusOne(
            fingerprint=fp,
            sql=shape(group[0].sql).normalized,
            count=len(group),
            call_site=_most_common_site(group),
        )
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
    UNUSED_EAGER_LOAD = "unused-eager-load"


class RepeatScope(StrEnum):
    """Where the repeats of a finding must happen (``dalperf_repeat_scope``)."""

    UNIT = "unit"  # in one unit of work (Session, checkout, request) or one loop of the app
    TEST = "test"  # anywhere in the capture (the test body), however many units


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """From how many repetitions each kind of finding is reported (0: never), and where
    they must happen."""

    relationship: int = 2  # different parent objects lazy-loading one relationship
    column_load: int = 5  # different objects reloading columns of one class
    repeat: int = 5  # different parameter sets of one SELECT
    write_loop: int = 0  # runs of one INSERT/UPDATE/DELETE, row by row; off by default
    small_repeat: int = 0  # different keys of one table's lookup by key (session.get); off
    loop: int = 3  # iterations of one loop of the app sending a SELECT per key (0: off)
    unused_eager_load: bool = False  # eager loads never read (needs dalperf.capture.reads)
    scope: RepeatScope = RepeatScope.UNIT

    @property
    def least_untagged(self) -> int:
        """The fewest statements the ORM did not tag that can make a finding (0: none can)."""
        counts = (self.repeat, self.write_loop, self.small_repeat, self.loop)
        return min((t for t in counts if t), default=0)


@dataclass(frozen=True, kw_only=True)
class LoaderOption:
    """The loader option a finding's fix adds to the query that loaded the parents, as
    names (``--dalperf-prove-fixes`` applies it in a rerun of the test).

    ``loads`` are ``(loader, "Class.attribute")`` pairs of :mod:`sqlalchemy.orm`:
    one chained option (``selectinload(Author.posts).selectinload(Post.comments)``) when
    ``chained``, otherwise one option each (``undefer(Post.body), undefer(Post.title)``);
    ``recursion_depth`` goes to the last load.  ``root``: the class that query selects.
    """

    root: str
    loads: tuple[tuple[str, str], ...]
    chained: bool = True
    recursion_depth: int | None = None


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem: what (``label``, as the code names it), how often, where, and the fix.

    ``label`` is stable across runs and edits of the SQL (a relationship, a class, or the
    statement's verb and table), so that ``(kind, label)`` identifies a finding in a baseline.
    ``objects`` is how many different parents, objects or parameter sets were involved;
    ``units`` how many units of work the statements ran in.  ``spread`` marks repeats that
    no single unit of work and no loop of the app made (each request runs it once): shown
    in the reports, never a failure.
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
    units: int = 1
    spread: bool = False
    option: LoaderOption | None = None  # the fix as a loader option, when it is one

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["option"]  # the fix line says it; the option is for a rerun, not a report
        data["kind"] = self.kind.value
        data["db_ms"] = round(self.db_ms, 3)
        return data


Measure = Callable[[list[Statement]], int]


def detect(
    statements: Iterable[Statement],
    thresholds: Thresholds,
    units: Sequence[Unit] | None = None,
    *,
    reads: AbstractSet[str] = frozenset(),
) -> list[Finding]:
    """Every finding in ``statements``, most statements first.  ``units`` is the unit of work
    of each statement, in the order given (:func:`dalperf.capture.units.resolve`); without
    it the statements count as one unit.  ``reads``: the relationships loaded eagerly that
    the code read (:mod:`dalperf.capture.reads`), for :attr:`Thresholds.unused_eager_load`."""
    given = list(statements)
    unit_of = {id(s): u for s, u in zip(given, units, strict=True)} if units else {}
    lazy: dict[str, list[Statement]] = {}
    columns: dict[tuple[str, bool, bool, tuple[str, ...]], list[Statement]] = {}
    untagged: list[Statement] = []
    eager: dict[str, list[Statement]] = {}
    judge = _Judge(thresholds, unit_of, _transactions(given), given)
    for statement in _with_sites(sorted(given, key=lambda s: s.start_ns), judge):
        tag = statement.orm
        if tag is None:
            untagged.append(statement)
        elif tag.kind is LoadKind.LAZY:
            lazy.setdefault(tag.label, []).append(statement)
        elif tag.kind is LoadKind.COLUMNS:
            key = (tag.label, tag.expired, tag.explicit, () if tag.expired else tag.columns)
            columns.setdefault(key, []).append(statement)
        elif tag.kind is LoadKind.EAGER and thresholds.unused_eager_load and not tag.mapped_eager:
            eager.setdefault(tag.label, []).append(statement)
        elif tag.kind is LoadKind.JOINED:  # the query itself, its joinedload options noted
            untagged.append(statement)
            for label in tag.joined if thresholds.unused_eager_load else ():
                eager.setdefault(label, []).append(statement)
    found = [f for group in lazy.values() if (f := _lazy_load(group, judge, untagged))]
    found += [f for group in columns.values() if (f := _column_reload(group, judge))]
    found += [_unused(label, group, judge) for label, group in eager.items() if label not in reads]
    # grouped by fingerprint (which parses them) only when there are enough for a finding
    least = thresholds.least_untagged
    if least and len(untagged) >= least:
        made = set()
        for fingerprint, group in _group(untagged).items():
            if finding := _repeated(group, judge):
                found.append(finding)
                made.add(fingerprint)
        found += [
            f
            for fingerprint, kept in judge.loop_invariants.items()
            if fingerprint not in made and (f := _loop_invariant(list(kept.values()), judge))
        ]
    return sorted(found, key=lambda f: (f.spread, -f.count, f.kind.value, f.label))


def _transactions(statements: list[Statement]) -> dict[int, tuple[int, int]]:
    """Which transaction of its connection each statement ran in (a new one from each
    statement the driver sent a BEGIN before), by ``id(statement)``."""
    ordinal: dict[int, int] = {}
    found = {}
    for statement in sorted(statements, key=lambda s: s.start_ns):
        number = ordinal.get(statement.connection, 0) + statement.begins
        ordinal[statement.connection] = number
        found[id(statement)] = (statement.connection, number)
    return found


def _with_sites(statements: list[Statement], judge: _Judge) -> Iterator[Statement]:
    """``statements``, an ORM load without a frame of the user's code on its stack (a lazy
    load inside FastAPI's response serialisation, after the route returned) given the call
    site of the latest statement of its unit of work that has one: the query that loaded
    the objects.  (Other statements without a site were not sampled: they keep none.)"""
    latest: dict[tuple[int, int], str] = {}
    for statement in statements:
        key = judge.key(statement)
        if statement.call_site is not None:
            latest[key] = statement.call_site
        elif (
            statement.orm is not None
            and statement.orm.kind is not LoadKind.JOINED
            and key in latest
        ):
            statement = replace(statement, call_site=latest[key])
        yield statement


@dataclass(frozen=True, slots=True)
class _Verdict:
    """Which statements of a group make the finding, and how they were spread."""

    statements: list[Statement]
    units: int  # units of work they ran in
    most: int  # the measure of the worst single unit
    spread: bool  # no unit and no loop reached the threshold: not a failure
    noun: str  # "Session", "request", "connection"
    loop: str | None  # the function whose one call ran them across units, if that is why
    step: int = 0  # a short loop's statements per iteration (Judge.short_loop), 0: none


class _Judge:
    """Applies a threshold to a group of statements, unit by unit (see :class:`RepeatScope`)."""

    def __init__(
        self,
        thresholds: Thresholds,
        unit_of: dict[int, Unit],
        transaction_of: dict[int, tuple[int, int]],
        statements: Sequence[Statement] = (),
    ) -> None:
        self.thresholds = thresholds
        self.unit_of = unit_of
        self.transaction_of = transaction_of  # id(statement) -> (connection, ordinal)
        self.statements = statements
        # each unit's statements in order, and where each statement is in its unit's list;
        # built when a short loop is first looked for
        self._sequences: dict[tuple[int, int], list[Statement]] | None = None
        self._position: dict[int, int] = {}
        # fingerprint -> {id(statement): (statement, iterations, step)}: the statements a
        # recognised short loop's body sent unchanged in each iteration (:meth:`_iterates`)
        self.loop_invariants: dict[str, dict[int, tuple[Statement, int, int]]] = {}

    def __call__(self, group: list[Statement], measure: Measure, threshold: int) -> _Verdict | None:
        if not threshold or measure(group) < threshold:
            return None
        by_unit: dict[tuple[int, int], list[Statement]] = {}
        for statement in group:
            by_unit.setdefault(self.key(statement), []).append(statement)
        noun = self._noun(group, by_unit)
        most = max(measure(members) for members in by_unit.values())
        if self.thresholds.scope is RepeatScope.TEST or len(by_unit) == 1:
            return _Verdict(group, len(by_unit), most, False, noun, None)
        heavy = [
            s for members in by_unit.values() if measure(members) >= threshold for s in members
        ]
        if heavy:
            units = sum(1 for members in by_unit.values() if measure(members) >= threshold)
            return _Verdict(sorted(heavy, key=lambda s: s.start_ns), units, most, False, noun, None)
        # one loop: the same call-site line reached from the same caller line (or from no
        # user frame: a worker's or a task's own stack), within one request
        loops: dict[tuple[int, str, str | None], list[Statement]] = {}
        for key, members in by_unit.items():
            first = next((s for s in members if s.call_site is not None), None)
            if first is not None and first.call_site is not None:
                loops.setdefault((key[0], first.call_site, first.caller), []).extend(members)
        for (_, site, _), members in loops.items():
            units = len({self.key(s) for s in members})
            if units > 1 and measure(members) >= threshold:
                return _Verdict(
                    sorted(members, key=lambda s: s.start_ns),
                    units,
                    most,
                    False,
                    noun,
                    site.rpartition(" in ")[2],
                )
        return _Verdict(group, len(by_unit), most, True, noun, None)

    def short_loop(self, group: list[Statement]) -> _Verdict | None:
        """The units of work in which ``group`` (one SELECT shape) ran once per iteration of
        one loop, for fewer keys than the repeat threshold (:meth:`_iterates`), as a finding's
        verdict; None if there is none."""
        least = self.thresholds.loop
        if not least or len(group) < least:
            return None
        by_unit: dict[tuple[int, int], list[Statement]] = {}
        for statement in group:
            by_unit.setdefault(self.key(statement), []).append(statement)
        loops = [
            (members, step)
            for key, members in by_unit.items()
            if (step := self._iterates(key, members, least))
        ]
        if not loops:
            return None
        return _Verdict(
            sorted((s for members, _ in loops for s in members), key=lambda s: s.start_ns),
            len(loops),
            max(len(members) for members, _ in loops),
            False,
            self._noun(group, by_unit),
            None,
            max(step for _, step in loops),
        )

    def _iterates(self, key: tuple[int, int], members: list[Statement], least: int) -> int:
        """How many statements each iteration sends when ``members`` (one SELECT shape, in
        one unit of work) are the iterations of one loop over keys (0 when they are not):
        at least ``least`` runs, each with new parameters, in one transaction, the same
        statements in the same order between each run and the next, and every call site of
        one place in the iteration on one line reached from one caller line, with two or
        more of the lookup's sites sampled (so that a helper called from several lines of a
        test is no loop).  A body of the lookup alone (nothing between the runs) needs every
        run's site sampled and all of them one line from one caller line: a list of lookups
        written out reaches the statement from a line each.  The body's statements that
        read the same rows in every iteration are kept in :attr:`loop_invariants`."""
        if len(members) < least or _variants(members) != len(members):
            return 0
        if len({self.transaction_of.get(id(s)) for s in members}) != 1:
            return 0
        sequence, position = self._sequence(key)
        if any(id(s) not in position for s in members):
            return 0
        places = sorted(position[id(s)] for s in members)
        between = [sequence[a + 1 : b] for a, b in pairwise(places)]
        body = [s.fingerprint for s in between[0]]
        if any([s.fingerprint for s in gap] != body for gap in between[1:]):
            return 0
        lookups = [sequence[p] for p in places]
        sampled = sum(1 for s in lookups if s.call_site is not None)
        if sampled < (len(lookups) if not body else 2):
            return 0
        for column in (lookups, *zip(*between, strict=True)):
            if len({(s.call_site, s.caller) for s in column if s.call_site is not None}) > 1:
                return 0
        self._keep_invariants(sequence, places, between, lookups[0])
        return len(body) + 1

    def _keep_invariants(
        self,
        sequence: list[Statement],
        places: list[int],
        between: list[list[Statement]],
        lookup: Statement,
    ) -> None:
        """Note each statement of a short loop's body that every iteration sends with the same
        text and parameters in the lookup's transaction (the scoring rule read again for each
        parent), with the last iteration's run after the final lookup (or the first one's
        before the first lookup, when the body comes first)."""
        width = len(between[0])
        after = sequence[places[-1] + 1 : places[-1] + 1 + width]
        before = sequence[max(places[0] - width, 0) : places[0]]
        fingerprints = [s.fingerprint for s in between[0]]
        ends = [
            end
            for end in (after, before)
            if len(end) == width and [s.fingerprint for s in end] == fingerprints
        ][:1]
        transaction = self.transaction_of.get(id(lookup))
        for column in zip(*between, *ends, strict=True):
            first = column[0]
            if (
                first.orm is None
                and first.fingerprint != lookup.fingerprint
                and _variants(list(column)) == 1
                and all(self.transaction_of.get(id(s)) == transaction for s in column)
            ):
                kept = self.loop_invariants.setdefault(first.fingerprint, {})
                kept.update((id(s), (s, len(places), width + 1)) for s in column)

    def invariant(self, group: list[Statement], kept: list[tuple[Statement, int, int]]) -> _Verdict:
        """The verdict of ``group``, the runs of a loop-invariant statement that
        :attr:`loop_invariants` kept (with each run's loop's iterations and step)."""
        by_unit: dict[tuple[int, int], list[Statement]] = {}
        for statement in group:
            by_unit.setdefault(self.key(statement), []).append(statement)
        return _Verdict(
            group,
            len(by_unit),
            max(iterations for _, iterations, _ in kept),
            False,
            self._noun(group, by_unit),
            None,
            max(step for _, _, step in kept),
        )

    def _sequence(self, key: tuple[int, int]) -> tuple[list[Statement], dict[int, int]]:
        if self._sequences is None:
            self._sequences = {}
            for statement in sorted(self.statements, key=lambda s: s.start_ns):
                members = self._sequences.setdefault(self.key(statement), [])
                self._position[id(statement)] = len(members)
                members.append(statement)
        return self._sequences.get(key, []), self._position

    def eager_after(self, group: list[Statement]) -> list[str]:
        """The relationships an eager load (``selectinload``, ``subqueryload``) filled right
        after every statement of ``group``, in its unit of work: the options each run asked
        for (``session.get(Post, pk, options=[selectinload(Post.comments)])``)."""
        found: list[str] | None = None
        for statement in group:
            sequence, position = self._sequence(self.key(statement))
            if id(statement) not in position:
                return []
            labels = []
            for after in sequence[position[id(statement)] + 1 :]:
                tag = after.orm
                if tag is None or tag.kind is not LoadKind.EAGER:
                    break
                if not tag.mapped_eager and tag.label not in labels:
                    labels.append(tag.label)
            found = labels if found is None else [label for label in found if label in labels]
        return found or []

    def key(self, statement: Statement) -> tuple[int, int]:
        unit = self.unit_of.get(id(statement))
        if unit is None:
            return (0, 0)
        return (unit.request, unit.id or -statement.connection)

    def _noun(self, group: list[Statement], by_unit: dict[tuple[int, int], list[Statement]]) -> str:
        if len({request for request, _ in by_unit}) > 1:
            return REQUEST
        kinds = {self.unit_of[id(s)].kind for s in group if id(s) in self.unit_of}
        return SESSION if kinds == {SESSION} else CONNECTION

    @staticmethod
    def where(verdict: _Verdict) -> str:
        """The part of a message that says how the statements were spread over units (or
        over the iterations of a short loop)."""
        each = (
            "each the lookup alone"
            if verdict.step == 1
            else f"each sending the same {verdict.step} statements"
        )
        if verdict.step and verdict.units <= 1:
            return f", once per iteration of one loop ({verdict.most} iterations, {each})"
        if verdict.units <= 1:
            return ""
        many = f"{verdict.units} different {verdict.noun}s"
        if verdict.step:
            return (
                f", once per iteration of one loop in each of {many} (up to {verdict.most} "
                f"iterations, {each})"
            )
        if verdict.loop is not None:
            return f" in {many}, all from the same line in {verdict.loop}"
        if verdict.spread:
            each = "once" if verdict.most == 1 else f"at most {verdict.most} times"
            return f" in {many}: each {verdict.noun} runs it {each}"
        return f" in {many}"


def _parents(group: list[Statement]) -> int:
    return len({s.orm.parent for s in group})


def _lazy_load(group: list[Statement], judge: _Judge, untagged: list[Statement]) -> Finding | None:
    verdict = judge(group, _parents, judge.thresholds.relationship)
    if verdict is None:
        return None
    group = verdict.statements
    tag = group[0].orm
    parents = _parents(group)
    owner = tag.label.partition(".")[0]
    loader = "selectinload" if tag.collection else "joinedload"
    option: LoaderOption | None
    if tag.recursive:
        depth = max(s.orm.depth for s in group)
        chain = [f"selectinload({tag.label}, recursion_depth={depth})"]
        root = owner
        option = LoaderOption(
            root=root, loads=(("selectinload", tag.label),), recursion_depth=depth
        )
    else:
        chain = [f"selectinload({label})" for label in tag.path]
        chain.append(f"{loader}({tag.label})")
        root = tag.path[0].partition(".")[0] if tag.path else owner
        loads = (*(("selectinload", label) for label in tag.path), (loader, tag.label))
        option = LoaderOption(root=root, loads=loads)
    options = ".".join(chain)
    if not tag.path and not verdict.spread and _loaded_one_by_one(group, untagged):
        key = tag.key
        fix = f"select({owner}).where({owner}.{key}.in_({key}s)).options({options})"
        how = f", each {owner} loaded on its own first (batch that loop)"
        option = None  # the fix batches the loop: no option on the queries it runs
    else:
        parent = _parent_query(group, untagged, judge) if not tag.path else ""
        entities = _entities(shape(parent).normalized) if parent else []
        # rows of select(Post, Author): the fix keeps every entity of the statement
        selected = ", ".join(entities) if root in entities else root
        fix = f"select({selected}).options({options})"
        how = ""
    count = len(group)
    times = (
        f"once per {owner} ({parents} objects)"
        if count == parents
        else f"for {parents} {owner} objects"
    )
    found = _finding(
        FindingKind.LAZY_LOAD,
        tag.label,
        verdict,
        parents,
        fix,
        f"{tag.label} was lazy-loaded {count} times, {times}{how}{judge.where(verdict)}",
    )
    return replace(found, option=option)


def _parent_query(group: list[Statement], untagged: list[Statement], judge: _Judge) -> str:
    """The SQL of the statement that loaded the parents of these lazy loads: the latest
    statement of their unit of work before the first of them that reads the parent's table
    ("" when there is none)."""
    first = min(group, key=lambda s: s.start_ns)
    table = first.orm.table
    key = judge.key(first)
    names = (f" {table} ", f' "{table}" ', f" {table}\n", f' "{table}"\n')
    found = ""
    for statement in untagged:  # in the order they started
        if statement.start_ns >= first.start_ns:
            break
        if judge.key(statement) == key and any(n in f"{statement.sql} " for n in names):
            found = statement.sql
    return found


def _entities(sql: str) -> list[str]:
    """The mapped classes whose whole rows (every column not deferred) ``sql``'s SELECT list
    is, in order (``select(Post, Author)``); [] when it selects anything else."""
    upper = sql.upper()
    if not upper.lstrip().startswith("SELECT ") or " FROM " not in upper:
        return []
    listed = sql[upper.find("SELECT ") + len("SELECT ") : upper.find(" FROM ")]
    tables: dict[str, set[str]] = {}
    for item in listed.split(","):
        owner, dot, column = item.strip().partition(" ")[0].partition(".")
        if not dot:
            return []
        tables.setdefault(owner.strip('"'), set()).add(column.strip('"'))
    names = []
    for table, columns in tables.items():
        mapper = _mapper(table)
        if mapper is None:
            return []
        loaded = {c.name for a in mapper.column_attrs if not a.deferred for c in a.columns}
        if not loaded <= columns:
            return []
        names.append(mapper.class_.__name__)
    return names


def _loaded_one_by_one(group: list[Statement], untagged: list[Statement]) -> bool:
    """Whether the parents of these lazy loads came one statement each (``session.get`` or
    a query by key per parent: a SELECT from the parent's table just before each load),
    rather than from one query."""
    starts = sorted(s.start_ns for s in group)
    table = group[0].orm.table
    reads = (f"FROM {table} ", f'FROM "{table}" ', f"FROM {table}\n", f'FROM "{table}"\n')
    others = sorted(
        s.start_ns
        for s in untagged
        if s.sql.lstrip()[:6].upper() == "SELECT" and any(r in s.sql for r in reads)
    )
    if len(starts) < 2:
        return False
    return all(
        bisect_left(others, start) > bisect_left(others, previous)
        for previous, start in zip([0, *starts], starts, strict=False)
    )


def _unused(label: str, group: list[Statement], judge: _Judge) -> Finding:
    rows = sum(s.rows for s in group)
    verdict = _Verdict(
        group, len({judge.key(s) for s in group}), len(group), False, CONNECTION, None
    )
    return _finding(
        FindingKind.UNUSED_EAGER_LOAD,
        label,
        verdict,
        rows,
        f"drop the eager load of {label} from this query's .options(...)",
        f"{label} was loaded eagerly ({len(group)} statement(s), {rows} rows) and never read",
    )


def _objects(group: list[Statement]) -> int:
    return len({s.orm.parent for s in group})


def _column_reload(group: list[Statement], judge: _Judge) -> Finding | None:
    verdict = judge(group, _objects, judge.thresholds.column_load)
    if verdict is None:
        return None
    group = verdict.statements
    tag = group[0].orm
    objects = _objects(group)
    where = judge.where(verdict)
    if tag.explicit:
        return _finding(
            FindingKind.COLUMN_RELOAD,
            f"{tag.label} (refresh)",
            verdict,
            objects,
            f"session.scalars(select({tag.label}).where({tag.label}.{tag.key}"
            f".in_(ids)){_lock(group[0].sql)}.execution_options(populate_existing=True)).all()",
            f"{tag.label} objects were refreshed one at a time, {len(group)} times "
            f"(session.refresh() in a loop){where}",
        )
    if tag.expired:
        return _finding(
            FindingKind.COLUMN_RELOAD,
            f"{tag.label} (expired)",
            verdict,
            objects,
            "sessionmaker(engine, expire_on_commit=False)  # or session.expire_on_commit = False",
            f"{tag.label} objects had their expired columns reloaded one object "
            f"at a time, {len(group)} times (after commit(), expire() or "
            f"expire_all()){where}",
        )
    attributes = ", ".join(f"{tag.label}.{c}" for c in tag.columns)
    undefer = ", ".join(f"undefer({tag.label}.{c})" for c in tag.columns)
    times = (
        f"once per {tag.label} ({objects} objects)"
        if len(group) == objects
        else f"for {objects} {tag.label} objects"
    )
    found = _finding(
        FindingKind.COLUMN_RELOAD,
        attributes,
        verdict,
        objects,
        f"select({tag.label}).options({undefer})",
        f"{attributes} (deferred) was loaded on its own {len(group)} times, {times}{where}",
    )
    loads = tuple(("undefer", f"{tag.label}.{c}") for c in tag.columns)
    return replace(found, option=LoaderOption(root=tag.label, loads=loads, chained=False))


_LOCK = re.compile(
    r"\bFOR\s+(UPDATE|NO\s+KEY\s+UPDATE|SHARE|KEY\s+SHARE)(?:\s+OF\s+[\w\", .]+?)?"
    r"(\s+NOWAIT|\s+SKIP\s+LOCKED)?\s*$",
    re.IGNORECASE,
)


def _lock(sql: str) -> str:
    """The ``.with_for_update(...)`` that keeps a statement's row lock (``refresh(obj,
    with_for_update=True)`` sends ``SELECT ... FOR UPDATE``), or nothing."""
    match = _LOCK.search(sql.strip())
    if match is None:
        return ""
    mode = " ".join(match.group(1).upper().split())
    arguments = {"UPDATE": [], "NO KEY UPDATE": ["key_share=True"], "SHARE": ["read=True"]}.get(
        mode, ["read=True", "key_share=True"]
    )
    wait = " ".join((match.group(2) or "").upper().split())
    arguments += {"NOWAIT": ["nowait=True"], "SKIP LOCKED": ["skip_locked=True"]}.get(wait, [])
    return f".with_for_update({', '.join(arguments)})"


def _variants(group: list[Statement]) -> int:
    return len({(s.sql, repr(s.parameters)) for s in group})


def _runs(group: list[Statement]) -> int:
    return len(group)


def _repeated(group: list[Statement], judge: _Judge) -> Finding | None:
    if any(s.executemany for s in group):
        return None
    sql = shape(group[0].sql).normalized
    verb = sql.split(None, 1)[0].upper() if sql else ""
    if any(c in sql for c in _CATALOG):
        return None
    table = _table(sql)
    if verb in ("SELECT", "WITH"):
        thresholds = judge.thresholds
        changing = batches.varying(group)
        threshold = thresholds.repeat
        if thresholds.small_repeat and _by_key(sql, changing):
            threshold = min(t for t in (threshold, thresholds.small_repeat) if t)
        if _variants(group) == 1:
            return _invariant(group, judge, sql, table)
        below = not threshold or _variants(group) < threshold
        if below and not (thresholds.loop and _variants(group) >= thresholds.loop):
            return None
        if batches.pages(group, changing) or batches.chunks(group, changing):
            return None
        verdict = None if below else judge(group, _variants, threshold)
        if verdict is None or verdict.spread:
            # fewer keys than the threshold (or spread over units), but one loop's iterations
            verdict = judge.short_loop(group) or verdict
        if verdict is None:
            return None
        group = verdict.statements
        variants = _variants(group)
        texts = len({s.sql for s in group})
        fix = _select_fix(group, sql, table, changing, judge.eager_after(group))
        if texts > 1 and not changing:  # the values are in the texts: f-string SQL
            message = (
                f"one SELECT on {table} ran {len(group)} times as {texts} different "
                f"texts: the same statement shape with inlined literals (bind them as "
                f"parameters, then fetch all at once)"
            )
        else:
            message = (
                f"the same SELECT on {table} ran {len(group)} times with {variants} "
                f"different parameter sets"
            )
        return _finding(
            FindingKind.REPEATED_STATEMENT,
            f"SELECT {table}",
            verdict,
            variants,
            fix,
            message + judge.where(verdict),
        )
    if verb in ("INSERT", "UPDATE", "DELETE"):
        if verb == "INSERT" and any(batches.multirow_insert(s.sql) for s in group):
            return None  # insertmanyvalues: one flush's rows, in batches
        verdict = judge(group, _runs, judge.thresholds.write_loop)
        if verdict is None:
            return None
        group = verdict.statements
        name = mapped_class(table) or table
        fix = _write_fix(verb, name, sql)
        return _finding(
            FindingKind.WRITE_LOOP,
            f"{verb} {table}",
            verdict,
            _variants(group),
            fix,
            f"the same {verb} on {table} ran {len(group)} times, one row at "
            f"a time{judge.where(verdict)}",
        )
    return None


def _invariant(group: list[Statement], judge: _Judge, sql: str, table: str) -> Finding | None:
    """The same SELECT with the same parameters again and again in one transaction: a
    loop-invariant query (run it once, before the loop).  Not when the runs are in separate
    transactions or wait in between (polling a row until its state changes), nor when it
    reads no table (``SELECT nextval(...)``, ``SELECT now()``)."""
    threshold = judge.thresholds.repeat
    if not threshold or len(group) < threshold or table == "?" or _waits(group):
        return None
    # in one transaction the answer cannot change (polling commits to see new data)
    by_transaction: dict[tuple[int, int], list[Statement]] = {}
    for statement in group:
        by_transaction.setdefault(judge.transaction_of[id(statement)], []).append(statement)
    group = max(by_transaction.values(), key=len)
    verdict = judge(group, _runs, threshold)
    if verdict is None:
        return None
    return _finding(
        FindingKind.REPEATED_STATEMENT,
        f"SELECT {table}",
        verdict,
        1,
        "result = session.execute(stmt).all()  # once, before the loop; reuse result",
        f"the same SELECT on {table} ran {len(verdict.statements)} times with the "
        f"same parameters{judge.where(verdict)}",
    )


def _loop_invariant(kept: list[tuple[Statement, int, int]], judge: _Judge) -> Finding | None:
    """A SELECT that a short loop's body (:meth:`_Judge.short_loop`) sent with the same
    parameters in every iteration: a loop-invariant query, reported with the loop."""
    group = sorted((s for s, _, _ in kept), key=lambda s: s.start_ns)
    sql = shape(group[0].sql).normalized
    table = _table(sql)
    verb = sql.split(None, 1)[0].upper() if sql else ""
    if verb not in ("SELECT", "WITH") or table == "?" or any(c in sql for c in _CATALOG):
        return None
    verdict = judge.invariant(group, kept)
    return _finding(
        FindingKind.REPEATED_STATEMENT,
        f"SELECT {table}",
        verdict,
        1,
        "result = session.execute(stmt).all()  # once, before the loop; reuse result",
        f"the same SELECT on {table} ran {len(group)} times with the same parameters"
        f"{judge.where(verdict)}: the same rows each time, a loop-invariant query",
    )


def _waits(group: list[Statement]) -> bool:
    """Whether the runs wait for something in between (every idle gap at least
    :data:`POLL_GAP_NS`): polling."""
    runs = sorted(group, key=lambda s: s.start_ns)
    return min(b.start_ns - a.end_ns for a, b in pairwise(runs)) >= POLL_GAP_NS


def _by_key(sql: str, changing: set[Any]) -> bool:
    """Whether the runs look one row up by key each: ``session.get`` (its ``pk_n``
    parameters), or a single ``column = $1`` condition whose value changes."""
    if changing and all(str(key).startswith("pk_") for key in changing):
        return True
    where = sql.upper().find(" WHERE ")
    condition = sql[where + 7 :] if where >= 0 else ""
    return len(changing) == 1 and _EQUALS.fullmatch(condition.strip()) is not None


_EQUALS = re.compile(r"((?:\"[^\"]+\"|[\w$]+)\.)?(\"[^\"]+\"|\w+)\s*=\s*\$(\d+)(?:::\w+)?")


def _select_fix(
    group: list[Statement], sql: str, table: str, changing: set[Any], eager: Sequence[str] = ()
) -> str:
    """A line to paste that fetches every run's rows in one statement; an entity query keeps
    the eager loads that followed each run (``session.get(..., options=[selectinload(...)])``)."""
    where = sql.upper().find(" WHERE ")
    match = _EQUALS.search(sql, max(where, 0))
    name = mapped_class(table)
    column = match.group(2).replace('"', "") if match else None
    pk_get = any(str(key).startswith("pk_") for key in changing)
    top = _TOP_N.search(sql, max(where, 0))
    if match and top and name and _EQUALS.fullmatch(sql[where + 7 : top.start()].strip()):
        return _top_n_fix(group, sql, name, table, match, top, changing)
    alone = where >= 0 and _EQUALS.fullmatch(sql[where + len(" WHERE ") :].strip()) is not None
    # the entity query only when the key is the whole condition: other filters stay in text()
    if name and column and alone and (pk_get or _selects_entity(sql, table)):
        plural = f"{column}s"
        options = ", ".join(f"selectinload({label})" for label in eager)
        chained = f".options({options})" if options else ""
        return (
            f"session.scalars(select({name}).where({name}.{column}.in_({plural})){chained}).all()"
        )
    if match:
        start, end = match.span()
        key = f"{match.group(1) or ''}{match.group(2)}"
        batched = sql[:start] + f"{key} = ANY(:values)" + sql[end:]
        if _AGGREGATE.search(sql) and not _GROUPED.search(sql):
            # one total per key, not one for all of them: select the key and group by it
            batched = f"SELECT {key}, {batched[len('SELECT ') :]} GROUP BY {key}"
        # text() binds :name, and a "::TYPE" cast right after one would hide it
        batched = re.sub(r"\$(\d+)(?:::\w+)?", r":p\1", batched)
        return f'connection.execute(text("{batched}"), {{"values": values}})'
    return "fetch them in one statement: .where(column.in_(values)), or WHERE column = ANY(:values)"


_TOP_N = re.compile(r" ORDER BY (.+?) LIMIT (\$\d+(?:::\w+)?|\d+)$", re.IGNORECASE)
_ORDER_ITEM = re.compile(
    r"(?:(\"[^\"]+\"|\w+)\.)?(\"[^\"]+\"|\w+)(?:\s+(ASC|DESC))?", re.IGNORECASE
)


def _top_n_fix(
    group: list[Statement],
    sql: str,
    name: str,
    table: str,
    key: re.Match[str],
    top: re.Match[str],
    changing: set[Any],
) -> str:
    """The first rows per key (``ORDER BY ... LIMIT n`` once per parent) in one statement: a
    ``row_number()`` window partitioned by the key, keeping the rows ranked up to the limit
    (an ``IN`` with the LIMIT would keep n rows in all)."""
    column = key.group(2).replace('"', "")
    order = []
    for item in top.group(1).split(","):
        part = _ORDER_ITEM.fullmatch(item.strip())
        if part is None:
            return "rank the rows per key: row_number() OVER (PARTITION BY key ORDER BY ...)"
        attribute = f"{name}.{part.group(2).strip(chr(34))}"
        order.append(
            f"{attribute}.desc()" if (part.group(3) or "").upper() == "DESC" else attribute
        )
    limit = top.group(2)
    if not limit.isdigit():
        fixed = [
            value
            for k, value in _parameters(group[0].parameters)
            if k not in changing and isinstance(value, int)
        ]
        limit = str(fixed[-1]) if fixed else "n"
    ordered = order[0] if len(order) == 1 else f"({', '.join(order)})"
    rank = f'func.row_number().over(partition_by={name}.{column}, order_by={ordered}).label("rank")'
    entity = _selects_entity(sql, table)
    columns = name if entity else "*columns"
    query = f"ranked = select({columns}, {rank}).where({name}.{column}.in_({column}s)).subquery(); "
    if entity:
        return (
            query
            + f"session.scalars(select(aliased({name}, ranked)).where(ranked.c.rank <= {limit})).all()"
        )
    return query + f"session.execute(select(ranked).where(ranked.c.rank <= {limit})).all()"


def _parameters(parameters: Any) -> list[tuple[Any, Any]]:
    """(key, value) pairs of a statement's parameters: names, or positions from 1."""
    if isinstance(parameters, dict):
        return list(parameters.items())
    if isinstance(parameters, list | tuple):
        return list(enumerate(parameters, 1))
    return []


_AGGREGATE = re.compile(
    r"^SELECT\s+(?:DISTINCT\s+)?[^,]*?\b(?:count|sum|avg|min|max)\s*\(", re.IGNORECASE
)
_GROUPED = re.compile(r"\b(?:GROUP\s+BY|ORDER\s+BY|LIMIT|OFFSET|UNION)\b", re.IGNORECASE)


def _selects_entity(sql: str, table: str) -> bool:
    """Whether the SELECT list is whole rows of ``table``'s mapped class (an ORM entity
    query: every column it does not defer), not some of its columns."""
    name = mapped_class(table)
    return name is not None and _entities(sql) == [name]


_CONFLICT = re.compile(
    r"ON CONFLICT\s*\(([^)]*)\)\s*DO UPDATE SET\s+(.*?)(?:\s+WHERE\s|\s+RETURNING\s|$)",
    re.IGNORECASE | re.DOTALL,
)


def _write_fix(verb: str, name: str, sql: str) -> str:
    if verb == "INSERT":
        conflict = _CONFLICT.search(sql)
        if conflict:
            keys = [k.strip().strip('"') for k in conflict.group(1).split(",")]
            updated = [a.split("=")[0].strip().strip('"') for a in conflict.group(2).split(",")]
            sets = ", ".join(f'"{c}": stmt.excluded.{c}' for c in updated)
            return (
                "stmt = postgresql.insert(" + name + ").values(rows); "
                f"session.execute(stmt.on_conflict_do_update(index_elements={keys!r}, "
                f"set_={{{sets}}}))"
            )
        if " ON CONFLICT " in sql.upper():
            return (
                f"session.execute(postgresql.insert({name}).values(rows).on_conflict_do_nothing())"
            )
        return f"session.execute(insert({name}), rows)"
    if verb == "UPDATE":
        return f"session.execute(update({name}), rows)  # rows: dicts with the primary key"
    return f"session.execute(delete({name}).where({name}.id.in_(ids)))"


def mapped_class(table: str) -> str | None:
    """The name of the mapped class whose table is ``table``, if exactly one is mapped."""
    mapper = _mapper(table)
    return mapper.class_.__name__ if mapper is not None else None


def _mapper(table: str) -> Any:
    """The one mapper (not a subclass's) whose table is ``table``, or None."""
    from sqlalchemy.orm import mapperlib

    short = table.rpartition(".")[2]
    registries = getattr(mapperlib, "_mapper_registries", {})  # a private name: detail only
    # by class name: a module imported again (a second pytest session in one process) maps
    # the same class anew; the latest mapping is the one in use
    found = {
        mapper.class_.__name__: mapper
        for registry in list(registries)
        for mapper in registry.mappers
        if getattr(mapper.local_table, "name", None) == short and not mapper.inherits
    }
    return next(iter(found.values())) if len(found) == 1 else None


def _finding(
    kind: FindingKind, label: str, verdict: _Verdict, objects: int, fix: str, message: str
) -> Finding:
    group = verdict.statements
    first = min(group, key=lambda s: s.start_ns)
    site = first.call_site or next((s.call_site for s in group if s.call_site is not None), None)
    return Finding(
        kind=kind,
        label=label,
        count=len(group),
        objects=objects,
        call_site=site,
        sql=shape(group[0].sql).normalized,
        fix=fix,
        message=message,
        db_ms=sum(s.end_ns - s.start_ns for s in group) / NS_PER_MS,
        units=verdict.units,
        spread=verdict.spread,
    )


def _table(sql: str) -> str:
    match = _TABLE.search(sql)
    return match.group(1).replace('"', "") if match else "?"
