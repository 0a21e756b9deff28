"""Candidate indexes for one statement, read from its EXPLAIN plan and its SQL.

A scan in a stored plan (:mod:`dalperf.plans.findings`) asks for an index when

- it is a sequential scan of a table of more than ``seq_scan_rows`` rows;
- its filter removes most of the rows it reads (all but :data:`SELECTIVE_FRACTION`);
- it feeds a sort (directly, not through a join or an aggregate) that spills to disk or
  sorts more rows than it returns (a top-N sort under a Limit, which an index in the
  sort's order ends early);
- it is a sequential scan on the inner side of a nested loop (run once per outer row).

Its columns, in index order (parsed with pglast, PostgreSQL's own parser, from the plan's
conditions, which carry the statement's parameters as constants): the columns an equality
compares (``=``, ``= ANY``, ``IS NULL``, a boolean column on its own) first, then those a
range compares (``<``, ``BETWEEN``, a row comparison), then the leading columns of the
key of the sort it feeds, and the keys
of the joins above it (a join's inner key is an equality).  From them: one-column
candidates (the first equality, range and sort column) and two-column ones (the first two
columns in that order, the first equality with the first sort column, the sort's first two
columns), and, when the statement reads few other columns of the table (an index-only
scan within reach), the first two-column candidate with those columns as ``INCLUDE``.
A candidate whose key columns an existing b-tree index of the table (without predicate)
already starts with is dropped: that index serves whatever the candidate would.

Everything here is pure: it reads plans, SQL and the catalog, never a database.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import SortByDir
from pglast.parser import ParseError
from pglast.visitors import Visitor

from dalperf.capture.fingerprint import to_dollar_params
from dalperf.plans.findings import DEFAULT_THRESHOLDS, SEQ_SCAN, SORT_NODES, PlanThresholds
from dalperf.plans.index_audit import BTREE, SELECTIVE_FRACTION, Index

MAX_INCLUDE_COLUMNS = 4  # more than this many other columns read: no index-only candidate
MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1
JOIN_CONDITIONS = ("Hash Cond", "Merge Cond", "Join Filter")
PASS_THROUGH = frozenset({"Materialize", "Gather", "Gather Merge", "Memoize"})
RANGE_OPERATORS = frozenset({"<", "<=", ">", ">="})
_SIMPLE_NAME = re.compile(r"^[a-z_][a-z0-9_$]*$")


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One index worth building and measuring: key columns (``"created_at DESC"`` keeps the
    sort's direction), ``INCLUDE`` columns, and why the plan asked for it."""

    table: str
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    given_name: str | None = None  # instead of the derived name, when that one is taken

    @property
    def key_names(self) -> tuple[str, ...]:
        """The key columns without their direction."""
        return tuple(c.split()[0] for c in self.columns)

    @property
    def name(self) -> str:
        """``ix_<table>_<columns>`` (``_incl`` with INCLUDE columns), cut to 63 characters
        with a digest of the full name when longer (or the name given instead)."""
        if self.given_name is not None:
            return self.given_name
        full = "_".join(("ix", self.table, *self.key_names, *(("incl",) if self.include else ())))
        if len(full) <= MAX_IDENTIFIER:
            return full
        digest = hashlib.sha256(full.encode()).hexdigest()[:8]
        return f"{full[: MAX_IDENTIFIER - 9]}_{digest}"

    @property
    def label(self) -> str:
        """``renders (chain_id)``, with ``INCLUDE (...)`` when there are include columns."""
        text = f"{self.table} ({', '.join(self.columns)})"
        return text + (f" INCLUDE ({', '.join(self.include)})" if self.include else "")

    def create_sql(self, *, concurrently: bool = False, name: str | None = None) -> str:
        """The ``CREATE INDEX`` statement (``CONCURRENTLY`` for a live database)."""
        keys = ", ".join(_quoted_key(c) for c in self.columns)
        include = f" INCLUDE ({', '.join(_quote(c) for c in self.include)})" if self.include else ""
        how = "CONCURRENTLY " if concurrently else ""
        return (
            f"CREATE INDEX {how}{_quote(name or self.name)} ON {_quote(self.table)} "
            f"({keys}){include}"
        )

    def alembic(self) -> str:
        """The Alembic migration line: ``op.create_index(...)``, built concurrently."""
        keys = ", ".join(f"sa.text({c!r})" if " " in c else repr(c) for c in self.columns)
        include = (
            f", postgresql_include=[{', '.join(repr(c) for c in self.include)}]"
            if self.include
            else ""
        )
        return (
            f"op.create_index({self.name!r}, {self.table!r}, [{keys}]{include}, "
            "postgresql_concurrently=True)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table": self.table,
            "columns": list(self.columns),
            "include": list(self.include),
            "reasons": list(self.reasons),
            "create": self.create_sql(concurrently=True) + ";",
            "alembic": self.alembic(),
        }


@dataclass(kw_only=True)
class _Wanted:
    """The columns one scan's table should be indexed on, by role, in order of appearance."""

    table: str
    alias: str
    equality: list[str] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def form(self, column: str) -> str:
        """The column as an index key: with the sort's direction when the sort names it."""
        return next((c for c in self.order if c.split()[0] == column.split()[0]), column)

    def ordered(self) -> list[str]:
        seen: dict[str, str] = {}
        for column in (*self.equality, *self.ranges, *self.order):
            seen.setdefault(column.split()[0], self.form(column))
        return list(seen.values())


def candidates(
    plan: Mapping[str, Any],
    sql: str,
    indexes: Sequence[Index],
    thresholds: PlanThresholds = DEFAULT_THRESHOLDS,
) -> list[Candidate]:
    """The candidates one stored plan (of statement ``sql``) asks for, none that an index
    in ``indexes`` already covers as a prefix, in the order they should be tried."""
    if not plan.get("explainable"):
        return []
    relations = plan.get("relations", {})
    aliases = {node.get("Alias") for node, _ in _walk(plan["plan"]) if "Relation Name" in node}
    found: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Candidate] = {}
    for wanted in _wanted(plan["plan"], relations, thresholds, single=len(aliases) == 1):
        read = _columns_read(sql, wanted.table, wanted.alias)
        for candidate in _shapes(wanted, read):
            if _covered(candidate, indexes):
                continue
            key = (candidate.table, candidate.key_names, candidate.include)
            if key not in found:
                found[key] = _free_name(candidate, {i.name for i in indexes})
    return list(found.values())


def _free_name(candidate: Candidate, taken: set[str]) -> Candidate:
    """``candidate`` under a name no existing index has (``_2``, ``_3``, ... appended)."""
    name, number = candidate.name, 1
    while name in taken:
        number += 1
        name = f"{candidate.name[: MAX_IDENTIFIER - 1 - len(str(number))]}_{number}"
    return candidate if name == candidate.name else replace(candidate, given_name=name)


def _walk(
    node: Mapping[str, Any], ancestors: tuple[Mapping[str, Any], ...] = ()
) -> Iterator[tuple[Mapping[str, Any], tuple[Mapping[str, Any], ...]]]:
    yield node, ancestors
    for child in node.get("Plans", ()):
        yield from _walk(child, (*ancestors, node))


def _wanted(
    root: Mapping[str, Any],
    relations: Mapping[str, float | None],
    thresholds: PlanThresholds,
    *,
    single: bool,
) -> Iterator[_Wanted]:
    """One entry per scan that asks for an index, with its columns and the reasons."""
    for node, ancestors in _walk(root):
        relation = node.get("Relation Name")
        if relation is None or "Scan" not in node.get("Node Type", ""):
            continue
        reasons = _reasons(node, ancestors, relations.get(relation), thresholds)
        if not reasons:
            continue
        alias = node.get("Alias", relation)
        wanted = _Wanted(table=relation, alias=alias, reasons=reasons)
        for text in (node.get("Filter"), node.get("Index Cond"), node.get("Recheck Cond")):
            if text:
                _Conditions.read(text, alias, own=True, into=wanted)
        for above in reversed(ancestors):
            for key in JOIN_CONDITIONS:
                if above.get(key):
                    _Conditions.read(above[key], alias, own=single, into=wanted)
        sort = _feeding_sort(ancestors)
        if sort is not None:
            wanted.order = _sort_columns(sort.get("Sort Key", ()), alias, own=single)
        if wanted.ordered():
            yield wanted


def _reasons(
    node: Mapping[str, Any],
    ancestors: Sequence[Mapping[str, Any]],
    table_rows: float | None,
    thresholds: PlanThresholds,
) -> list[str]:
    """Why this scan asks for an index (empty: it does not)."""
    reasons = []
    loops = node.get("Actual Loops", 0)
    kept = node.get("Actual Rows", 0) * loops
    removed = node.get("Rows Removed by Filter", 0) * loops
    is_seq = node.get("Node Type") == SEQ_SCAN
    if is_seq and table_rows is not None and table_rows > thresholds.seq_scan_rows:
        reasons.append(
            f"sequential scan of {node['Relation Name']} "
            f"({table_rows:,.0f} rows, over {thresholds.seq_scan_rows:,})"
        )
    if removed and kept <= SELECTIVE_FRACTION * (kept + removed):
        reasons.append(f"its filter removed {removed:,.0f} of {kept + removed:,.0f} rows read")
    sort = _feeding_sort(ancestors)
    reason = _sort_reason(sort) if sort is not None else None
    if reason:
        reasons.append(reason)
    parent_loop = next(
        (i for i, a in enumerate(reversed(ancestors)) if a.get("Node Type") == "Nested Loop"), None
    )
    if is_seq and parent_loop is not None and loops > 1:
        reasons.append(f"sequential scan on the inner side of a nested loop ({loops:,} loops)")
    return reasons


def _feeding_sort(ancestors: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The sort that orders a scan's own rows: its parent, or above nodes that only pass
    them on; a sort above a join or an aggregate orders other rows, which no index of the
    scanned table can give in order."""
    for above in reversed(ancestors):
        if above.get("Node Type") in SORT_NODES:
            return above
        if above.get("Node Type") not in PASS_THROUGH:
            return None
    return None


def _sort_reason(sort: Mapping[str, Any]) -> str | None:
    if sort.get("Sort Space Type") == "Disk":
        return f"its rows are sorted on disk ({sort.get('Sort Space Used', 0):,} kB)"
    returned = sort.get("Actual Rows", 0) * sort.get("Actual Loops", 0)
    child = (sort.get("Plans") or [{}])[0]
    sorted_rows = child.get("Actual Rows", 0) * child.get("Actual Loops", 0)
    if sorted_rows > returned:
        return f"a sort of {sorted_rows:,.0f} rows returned {returned:,.0f}"
    return None


class _Conditions(Visitor):
    """Sorts the columns of one alias in a condition into equality and range columns."""

    def __init__(self, alias: str, own: bool) -> None:
        super().__init__()
        self.alias = alias
        self.own = own
        self.equality: list[tuple[int, str]] = []
        self.ranges: list[tuple[int, str]] = []

    @classmethod
    def read(cls, text: str, alias: str, *, own: bool, into: _Wanted) -> None:
        try:
            tree = parse_sql(f"SELECT 1 WHERE {text}")
        except ParseError:
            return
        visitor = cls(alias, own)
        visitor(tree)
        for target, found in ((into.equality, visitor.equality), (into.ranges, visitor.ranges)):
            for _, name in sorted(found):
                if name not in target:
                    target.append(name)

    def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> None:
        name = _own_column(node, self.alias, self.own)
        if name is None:
            return
        location = node.location if node.location is not None else -1
        parent, above = _enclosing(ancestors)
        if isinstance(parent, ast.RowExpr):
            parent, above = _enclosing(above)
        if isinstance(parent, ast.A_Expr):
            operator = parent.name[-1].sval if parent.name else None
            kind = parent.kind.name if parent.kind is not None else ""
            if operator == "=" and kind in ("AEXPR_OP", "AEXPR_OP_ANY", "AEXPR_IN"):
                self.equality.append((location, name))
            elif operator in RANGE_OPERATORS or "BETWEEN" in kind:
                self.ranges.append((location, name))
        elif isinstance(parent, ast.NullTest | ast.BoolExpr | ast.SelectStmt):
            self.equality.append((location, name))  # x IS NULL, a boolean on its own
        # anything else (a function of the column, a cast) is no index key


def _enclosing(ancestors: Any) -> tuple[Any, Any]:
    """The nearest enclosing node that is not a tuple, and its ancestors."""
    while ancestors is not None and isinstance(ancestors.node, tuple):
        ancestors = ancestors.parent
    if ancestors is None:
        return None, None
    return ancestors.node, ancestors.parent


def _own_column(node: ast.ColumnRef, alias: str, own: bool) -> str | None:
    """The column name if ``node`` names a column of ``alias`` (unqualified: if ``own``)."""
    fields = node.fields or ()
    names = [f.sval for f in fields if isinstance(f, ast.String) and f.sval is not None]
    if len(names) != len(fields) or not names:
        return None  # table.*
    if len(names) == 1:
        return names[0] if own else None
    return names[-1] if names[-2] == alias else None


def _sort_columns(keys: Sequence[str], alias: str, *, own: bool) -> list[str]:
    """The sort key's leading columns of ``alias`` (with ``DESC``), up to the first key that
    is not one (an index can give only a prefix of the order)."""
    columns = []
    for key in keys:
        try:
            statement: Any = parse_sql(f"SELECT 1 ORDER BY {key}")[0].stmt
            sort_by = statement.sortClause[0]
        except (ParseError, IndexError, TypeError):
            break
        if not isinstance(sort_by.node, ast.ColumnRef):
            break
        name = _own_column(sort_by.node, alias, own)
        if name is None:
            break
        columns.append(f"{name} DESC" if sort_by.sortby_dir == SortByDir.SORTBY_DESC else name)
    return columns


def _shapes(wanted: _Wanted, read: tuple[str, ...] | None) -> list[Candidate]:
    """One- and two-column candidates (and an INCLUDE one), most promising first."""
    ordered = wanted.ordered()
    order = wanted.order
    shapes: list[tuple[str, ...]] = []
    for group in (wanted.equality[:1], wanted.ranges[:1], order[:1]):
        shapes += [(wanted.form(c),) for c in group]
    if len(ordered) > 1:
        shapes.append(tuple(ordered[:2]))
    if wanted.equality and order:
        shapes.append((wanted.form(wanted.equality[0]), order[0]))
    if len(order) > 1:
        shapes.append(tuple(order[:2]))
    unique: dict[tuple[str, ...], tuple[str, ...]] = {}
    for shape in shapes:
        names = tuple(c.split()[0] for c in shape)
        if len(set(names)) == len(names):
            unique.setdefault(names, shape)
    reasons = tuple(wanted.reasons)
    found = [
        Candidate(table=wanted.table, columns=shape, reasons=reasons) for shape in unique.values()
    ]
    pair = next((c for c in found if len(c.columns) == 2), None)
    if pair is not None and read is not None:
        rest = tuple(c for c in read if c not in pair.key_names)
        if 0 < len(rest) <= MAX_INCLUDE_COLUMNS:
            found.append(
                Candidate(table=wanted.table, columns=pair.columns, include=rest, reasons=reasons)
            )
    return found


def _covered(candidate: Candidate, indexes: Sequence[Index]) -> bool:
    """An existing plain b-tree of the table starts with the candidate's key columns."""
    keys = candidate.key_names
    return any(
        i.table == candidate.table
        and i.method == BTREE
        and i.predicate is None
        and tuple(i.columns[: len(keys)]) == keys
        and (not candidate.include or set(candidate.include) <= set(i.columns))
        for i in indexes
    )


def _columns_read(sql: str, table: str, alias: str) -> tuple[str, ...] | None:
    """Every column of ``table`` a SELECT statement names, in order; ``None`` when that is
    not known (not a SELECT, ``*``, unparsable, or unqualified names over several tables)."""
    try:
        statements = parse_sql(to_dollar_params(sql))
    except ParseError:
        return None
    if len(statements) != 1 or not isinstance(statements[0].stmt, ast.SelectStmt):
        return None
    visitor = _References()
    visitor(statements[0].stmt)
    if visitor.star:
        return None
    tables = set(visitor.tables)
    names: list[str] = []
    for qualifier, name in visitor.refs:
        if qualifier is None and tables - {table}:
            return None
        if qualifier in (None, table, alias) and name not in names:
            names.append(name)
    return tuple(names)


class _References(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str | None, str]] = []
        self.tables: list[str] = []
        self.star = False

    def visit_RangeVar(self, ancestors: Any, node: ast.RangeVar) -> None:
        if node.relname is not None:
            self.tables.append(node.relname)

    def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> None:
        fields = node.fields or ()
        names = [f.sval for f in fields if isinstance(f, ast.String) and f.sval is not None]
        if len(names) != len(fields):
            self.star = True
        elif names:
            self.refs.append((names[-2] if len(names) > 1 else None, names[-1]))


def _quote(name: str) -> str:
    return name if _SIMPLE_NAME.match(name) else '"' + name.replace('"', '""') + '"'


def _quoted_key(column: str) -> str:
    name, _, direction = column.partition(" ")
    return _quote(name) + (f" {direction}" if direction else "")
