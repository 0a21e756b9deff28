"""Stored EXPLAIN plans: the form the results JSON keeps them in, and what they show.

:func:`describe` turns one ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` output into the
stored form: planning and execution time, buffers, the plan tree with counters that are
zero (or false) left out, which keeps the results file small (a reader takes a missing
counter as zero), the triggers it fired, the row count of each table it reads, and the
findings.  Everything here is pure: it reads plans, never a database, so the report and
the gate use it too.

What a plan shows (:func:`findings`), computed from the plan alone:

- ``seq_scans``: sequential scans with a filter on a table of more than ``seq_scan_rows``
  rows (``pg_class.reltuples``, so the table must have been analysed), with the rows the
  scan read and the rows its filter kept;
- ``misestimates``: nodes whose actual rows differ from the planner's estimate by
  ``misestimate_factor`` or more.  Below a Limit a node stops early, so there only an
  actual count above the estimate counts;
- ``disk_sorts``: sorts that spilled to disk (``Sort Space Type: Disk``);
- ``indexes``: every index a node of the plan used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_SEQ_SCAN_ROWS = 10_000
MISESTIMATE_FACTOR = 10.0
SEQ_SCAN = "Seq Scan"
SORT_NODES = frozenset({"Sort", "Incremental Sort"})
# counters kept in a stored plan even when zero: a reader needs to see "0 rows"
ALWAYS_KEPT = frozenset({"Plan Rows", "Actual Rows", "Actual Loops"})
BUFFER_KEYS = {
    "shared_hit": "Shared Hit Blocks",
    "shared_read": "Shared Read Blocks",
    "shared_dirtied": "Shared Dirtied Blocks",
    "shared_written": "Shared Written Blocks",
    "temp_read": "Temp Read Blocks",
    "temp_written": "Temp Written Blocks",
}


@dataclass(frozen=True, kw_only=True)
class PlanThresholds:
    """Thresholds of the plan findings; defaults are the named constants above."""

    seq_scan_rows: int = DEFAULT_SEQ_SCAN_ROWS
    misestimate_factor: float = MISESTIMATE_FACTOR


DEFAULT_THRESHOLDS = PlanThresholds()


def describe(
    output: Mapping[str, Any],
    relation_rows: Callable[[str], float | None],
    thresholds: PlanThresholds = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    """The stored form of one EXPLAIN output (the object in its JSON array): times, buffers,
    the compacted plan, the triggers it fired (a foreign-key check's time is there, not in
    the plan), the size of each table it reads and the findings.

    ``relation_rows(name)`` gives a table's row count (or ``None``).
    """
    plan = compact(output["Plan"])
    relations = {
        rel: relation_rows(rel)
        for rel in dict.fromkeys(
            node["Relation Name"] for node, _, _ in walk(plan) if "Relation Name" in node
        )
    }
    planning = float(output.get("Planning Time", 0.0))
    execution = float(output.get("Execution Time", 0.0))
    return {
        "planning_ms": planning,
        "execution_ms": execution,
        "total_ms": round(planning + execution, 3),
        "buffers": {name: int(output["Plan"].get(key, 0)) for name, key in BUFFER_KEYS.items()},
        "plan": plan,
        "triggers": [
            {
                "name": t.get("Constraint Name") or t.get("Trigger Name"),
                "relation": t.get("Relation"),
                "time_ms": float(t.get("Time", 0.0)),
                "calls": int(t.get("Calls", 0)),
            }
            for t in output.get("Triggers", ())
        ],
        "relations": relations,
        "findings": findings(plan, relations, thresholds),
    }


def compact(node: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` and its children without the counters that are zero or false."""
    kept: dict[str, Any] = {}
    for key, value in node.items():
        if key == "Plans":
            kept[key] = [compact(child) for child in value]
        elif key in ALWAYS_KEPT or not (
            value is False
            or (isinstance(value, int | float) and not isinstance(value, bool) and value == 0)
        ):
            kept[key] = value
    return kept


def walk(
    plan: Mapping[str, Any], depth: int = 0, below_limit: bool = False
) -> Iterator[tuple[Mapping[str, Any], int, bool]]:
    """Every node of ``plan``, parents first, with its depth and whether a Limit is above it."""
    yield plan, depth, below_limit
    limited = below_limit or plan.get("Node Type") == "Limit"
    for child in plan.get("Plans", ()):
        yield from walk(child, depth + 1, limited)


def seq_scans(plans: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every sequential scan in stored ``plans`` (filtered or not): relation, its row count
    (``None`` if unknown) and the statement's fingerprint, largest table first."""
    found = [
        {
            "relation": node["Relation Name"],
            "table_rows": plan["relations"].get(node["Relation Name"]),
            "fingerprint": plan["fingerprint"],
        }
        for plan in plans
        if plan.get("explainable")
        for node, _, _ in walk(plan["plan"])
        if node.get("Node Type") == SEQ_SCAN
    ]
    return sorted(found, key=lambda scan: -(scan["table_rows"] or 0))


def rows_read(node: Mapping[str, Any]) -> float:
    """Rows a scan node read: those it returned plus those its filter removed, over all loops."""
    loops = node.get("Actual Loops", 0)
    return (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops


def findings(
    plan: Mapping[str, Any],
    relations: Mapping[str, float | None],
    thresholds: PlanThresholds = DEFAULT_THRESHOLDS,
) -> dict[str, list[dict[str, Any]]]:
    """Sequential scans on large tables with a filter, misestimates, disk sorts, indexes used."""
    seq_scans, misestimates, disk_sorts, indexes = [], [], [], []
    for node, _, limited in walk(plan):
        node_type = node.get("Node Type", "")
        relation = node.get("Relation Name")
        table_rows = relations.get(relation) if relation else None
        if (
            node_type == SEQ_SCAN
            and "Filter" in node
            and table_rows is not None
            and table_rows > thresholds.seq_scan_rows
        ):
            seq_scans.append(
                {
                    "relation": relation,
                    "table_rows": table_rows,
                    "filter": node["Filter"],
                    "rows_read": rows_read(node),
                    "rows_kept": node.get("Actual Rows", 0) * node.get("Actual Loops", 0),
                }
            )
        misestimate = _misestimate(node, limited, thresholds.misestimate_factor)
        if misestimate is not None:
            misestimates.append(misestimate)
        if node_type in SORT_NODES and node.get("Sort Space Type") == "Disk":
            disk_sorts.append(
                {
                    "node": node_type,
                    "sort_key": list(node.get("Sort Key", ())),
                    "method": node.get("Sort Method"),
                    "space_kb": node.get("Sort Space Used"),
                }
            )
        if "Index Name" in node:
            used = {"index": node["Index Name"], "relation": relation, "node": node_type}
            if used not in indexes:
                indexes.append(used)
    return {
        "seq_scans": seq_scans,
        "misestimates": misestimates,
        "disk_sorts": disk_sorts,
        "indexes": indexes,
    }


def _misestimate(node: Mapping[str, Any], limited: bool, factor: float) -> dict[str, Any] | None:
    if not node.get("Actual Loops"):
        return None  # never executed
    estimated = float(node.get("Plan Rows", 0))
    actual = float(node.get("Actual Rows", 0))
    if limited and actual < estimated:
        return None  # a Limit above stopped it early
    ratio = max(estimated, actual, 1.0) / max(min(estimated, actual), 1.0)
    if ratio < factor:
        return None
    return {
        "node": node.get("Node Type"),
        "relation": node.get("Relation Name"),
        "estimated": estimated,
        "actual": actual,
        "factor": round(ratio, 1),
    }
