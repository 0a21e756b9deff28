"""What the report shows of the EXPLAIN plans and the index audit, shaped from the results alone.

Per operation (:func:`operation_plans`): for each variant and each statement shape, the
plan with the performance indexes and without them side by side (total time, buffers, the
scans), and each plan as an indented tree (node, relation, index, estimated vs actual rows,
time).  For the run (:func:`index_audit_view`): one table of every index, used or not, with
its size, then duplicates and overlaps, unindexed foreign keys, sequential scans and
missing-index hints.  Nothing here touches a database: the plans and the audit are in the
results JSON (:mod:`dalperf.plans.findings` reads the plan trees).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dalperf.plans.findings import walk
from dalperf.results.model import Measurement, Results

BYTE_UNITS = ("B", "kB", "MB", "GB", "TB")
KIB = 1024


@dataclass(frozen=True, kw_only=True)
class PlanNode:
    """One line of a plan tree."""

    depth: int
    node: str
    relation: str | None
    index: str | None
    estimated: float
    actual: float
    loops: int
    time_ms: float | None
    detail: str  # the node's filter, index condition or sort key, if any


@dataclass(frozen=True, kw_only=True)
class PlanView:
    """One statement's plan (or why there is none)."""

    explainable: bool
    reason: str | None = None
    total_ms: float = float("nan")
    buffers_hit: int = 0
    buffers_read: int = 0
    scans: tuple[str, ...] = ()  # "Index Only Scan on gallery_items using idx_...", in order
    nodes: tuple[PlanNode, ...] = ()
    notes: tuple[str, ...] = ()  # the plan's findings as sentences


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """One statement shape of a variant, with the indexes and without them."""

    fingerprint: str
    sql: str
    with_indexes: PlanView | None
    without_indexes: PlanView | None


@dataclass(frozen=True, kw_only=True)
class VariantPlans:
    variant: str
    statements: tuple[Comparison, ...]


@dataclass(frozen=True, kw_only=True)
class OperationPlans:
    """The plans section of one operation."""

    operation: str
    variants: tuple[VariantPlans, ...]
    compared: bool  # plans exist both with and without the performance indexes


def operation_plans(results: Results) -> dict[str, OperationPlans]:
    """Operation name -> its plans section, for the operations whose measurements have plans."""
    planned: dict[str, dict[str, dict[bool, Measurement]]] = {}
    for m in results.operations:
        if m.plans:
            planned.setdefault(m.operation, {}).setdefault(m.variant, {}).setdefault(m.indexes, m)
    views = {}
    for operation, variants in planned.items():
        states = {state for by_state in variants.values() for state in by_state}
        views[operation] = OperationPlans(
            operation=operation,
            compared=states == {True, False},
            variants=tuple(
                VariantPlans(variant=variant, statements=_comparisons(by_state))
                for variant, by_state in variants.items()
            ),
        )
    return views


def _comparisons(by_state: Mapping[bool, Measurement]) -> tuple[Comparison, ...]:
    plans: dict[bool, dict[str, dict[str, Any]]] = {
        state: {p["fingerprint"]: p for p in m.plans} for state, m in by_state.items()
    }
    fingerprints = dict.fromkeys(f for state in (True, False) for f in plans.get(state, {}))
    comparisons = []
    for fingerprint in fingerprints:
        with_plan = plans.get(True, {}).get(fingerprint)
        without_plan = plans.get(False, {}).get(fingerprint)
        sql = (with_plan or without_plan or {}).get("sql", "")
        comparisons.append(
            Comparison(
                fingerprint=fingerprint,
                sql=sql,
                with_indexes=plan_view(with_plan) if with_plan else None,
                without_indexes=plan_view(without_plan) if without_plan else None,
            )
        )
    return tuple(comparisons)


def plan_view(plan: Mapping[str, Any]) -> PlanView:
    """A stored plan as the report shows it."""
    if not plan.get("explainable"):
        return PlanView(explainable=False, reason=plan.get("reason") or "not explainable")
    nodes = tuple(_node(node, depth) for node, depth, _ in walk(plan["plan"]))
    buffers = plan.get("buffers", {})
    return PlanView(
        explainable=True,
        total_ms=float(plan.get("total_ms", float("nan"))),
        buffers_hit=int(buffers.get("shared_hit", 0)),
        buffers_read=int(buffers.get("shared_read", 0)),
        scans=tuple(_scan(n) for n in nodes if n.relation is not None or n.index is not None),
        nodes=nodes,
        notes=tuple(
            _notes(plan.get("findings", {}))
            + [
                f"trigger {t['name']} on {t['relation']}: {t['time_ms']:.2f} ms, {t['calls']} call(s)"
                for t in plan.get("triggers", ())
            ]
        ),
    )


def _node(node: Mapping[str, Any], depth: int) -> PlanNode:
    detail = next(
        (
            f"{key}: {node[key]}"
            for key in (
                "Index Cond",
                "Recheck Cond",
                "Filter",
                "Hash Cond",
                "Merge Cond",
                "Join Filter",
            )
            if key in node
        ),
        "",
    )
    if not detail and "Sort Key" in node:
        detail = "Sort Key: " + ", ".join(node["Sort Key"])
    time = node.get("Actual Total Time")
    return PlanNode(
        depth=depth,
        node=str(node.get("Node Type", "?")),
        relation=node.get("Relation Name"),
        index=node.get("Index Name"),
        estimated=float(node.get("Plan Rows", 0)),
        actual=float(node.get("Actual Rows", 0)),
        loops=int(node.get("Actual Loops", 0)),
        time_ms=None if time is None else float(time),
        detail=detail,
    )


def _scan(node: PlanNode) -> str:
    on = f" on {node.relation}" if node.relation else ""
    using = f" using {node.index}" if node.index else ""
    return f"{node.node}{on}{using}"


def _notes(findings: Mapping[str, Any]) -> list[str]:
    notes = [
        f"sequential scan of {s['relation']} ({s['table_rows']:,.0f} rows) with filter "
        f"{s['filter']}: read {s['rows_read']:,.0f} rows, kept {s['rows_kept']:,.0f}"
        for s in findings.get("seq_scans", ())
    ]
    notes += [
        f"row estimate off {m['factor']:g}×: {m['node']}"
        f"{' on ' + m['relation'] if m.get('relation') else ''} estimated "
        f"{m['estimated']:,.0f}, got {m['actual']:,.0f}"
        for m in findings.get("misestimates", ())
    ]
    notes += [
        f"sort spilled to disk ({s.get('space_kb') or '?'} kB): {', '.join(s['sort_key'])}"
        for s in findings.get("disk_sorts", ())
    ]
    return notes


# --------------------------------------------------------------------------------------
# The index audit
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IndexRow:
    name: str
    table: str
    columns: str
    size: str
    in_migration: bool
    constraint: bool
    used: bool
    used_by: tuple[str, ...]
    scans: int


@dataclass(frozen=True, kw_only=True)
class IndexAuditView:
    """The index-audit section of the report."""

    migration: str | None  # "0006_add_performance_indexes (20 indexes)"
    operations: int
    indexes: tuple[IndexRow, ...]
    unused: tuple[str, ...]
    unused_size: str
    used_from_migration: int
    migration_total: int
    overlaps: tuple[Mapping[str, Any], ...]
    unindexed_foreign_keys: tuple[Mapping[str, Any], ...]
    seq_scans: tuple[Mapping[str, Any], ...]
    hints: tuple[Mapping[str, Any], ...]
    seq_scan_rows: int


def index_audit_view(results: Results) -> IndexAuditView | None:
    """The audit of ``results`` shaped for the report; ``None`` when the run has none."""
    audit = results.index_audit
    if not audit:
        return None
    entries = audit["indexes"]
    rows = tuple(
        IndexRow(
            name=i["name"],
            table=i["table"],
            columns=", ".join(i["columns"]),
            size=human_bytes(i["size_bytes"]),
            in_migration=i["in_migration"],
            constraint=i["constraint"],
            used=i["used"],
            used_by=tuple(sorted({*i["used_in_plans"], *i["scanned_by"]})),
            scans=i["scans"],
        )
        for i in sorted(
            entries, key=lambda i: (not i["in_migration"], i["used"], i["table"], i["name"])
        )
    )
    unused = tuple(audit["unused"])
    in_migration = [i for i in entries if i["in_migration"]]
    migration = audit.get("migration")
    return IndexAuditView(
        migration=(
            f"{migration['version']}_{migration['name']} ({len(migration['indexes'])} indexes)"
        )
        if migration
        else None,
        operations=len(audit.get("operations", ())),
        indexes=rows,
        unused=unused,
        unused_size=human_bytes(sum(i["size_bytes"] for i in entries if i["name"] in unused)),
        used_from_migration=sum(1 for i in in_migration if i["used"]),
        migration_total=len(in_migration),
        overlaps=tuple(audit["overlaps"]),
        unindexed_foreign_keys=tuple(audit["unindexed_foreign_keys"]),
        seq_scans=tuple(audit["seq_scans"]),
        hints=tuple(audit["missing_index_hints"]),
        seq_scan_rows=int(audit["seq_scan_rows"]),
    )


def human_bytes(size: float, units: Sequence[str] = BYTE_UNITS) -> str:
    """``512`` -> ``512 B``, ``8192`` -> ``8.0 kB``, ``1572864`` -> ``1.5 MB`` (powers of 1024)."""
    value = float(size)
    for unit in units[:-1]:
        if abs(value) < KIB:
            digits = 0 if unit == units[0] or value >= 10 else 1
            return f"{value:.{digits}f} {unit}"
        value /= KIB
    return f"{value:.1f} {units[-1]}"
