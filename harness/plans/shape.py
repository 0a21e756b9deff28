"""Plan shapes and the server's work per statement: the deterministic side of a plan.

A *shape* is what the planner chose, without anything that varies from run to run: node
types, the relations and indexes they scan, join types and join order (the tree's order
of children), aggregate and set-operation strategies, CTE and subplan names.  Costs, row
counts, timings, buffers and worker counts are left out.  Two plans with equal shapes
did the same kind of work; a different shape is a plan change (an index scan that became
a sequential scan, a nested loop that became a hash join).  :func:`plan_shape` gives the
shape as indented lines (what ``dalperf check`` prints side by side) and a short hash.

*Work* (:func:`work_of`) is what one ``EXPLAIN (ANALYZE, BUFFERS)`` execution touched:
shared buffers hit and read, temp blocks read and written (the plan's top node counts its
children's), and the rows the relation scans read (returned plus removed by filters, over
all loops).  On the same data and the same plan these figures are the same on every run,
unlike wall time; planning buffers (catalog lookups, which depend on the session's caches)
are reported apart by PostgreSQL and not counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from dalperf.plans.findings import rows_read, walk

SHAPE_HASH_CHARS = 16
# node keys shown in brackets after the node; scan targets are shown as "using" / "on"
SHAPE_DETAILS = ("Join Type", "Strategy", "Partial Mode", "Operation", "Command", "Subplan Name")
# the defaults, left out: a child's order already says which side of a join it is
IMPLIED = {"Parent Relationship": ("Outer", "Inner"), "Scan Direction": ("Forward",)}
WORK_KEYS = {
    "shared_hit": "Shared Hit Blocks",
    "shared_read": "Shared Read Blocks",
    "temp_read": "Temp Read Blocks",
    "temp_written": "Temp Written Blocks",
}


def shape_line(node: Mapping[str, Any]) -> str:
    """One node of a shape: ``Index Scan using idx on renders (Backward)``."""
    line = str(node.get("Node Type", "?"))
    if node.get("Index Name"):
        line += f" using {node['Index Name']}"
    target = (
        node.get("Relation Name")
        or node.get("CTE Name")
        or (f"{node['Function Name']}()" if node.get("Function Name") else None)
    )
    if target:
        line += f" on {target}"
    details = [str(node[key]) for key in SHAPE_DETAILS if node.get(key)]
    details += [
        str(node[key])
        for key, implied in IMPLIED.items()
        if node.get(key) and node[key] not in implied
    ]
    return line + (f" ({', '.join(details)})" if details else "")


def shape_lines(plan: Mapping[str, Any]) -> list[str]:
    """The shape of a plan tree (stored or raw), one indented line per node, parents first."""
    return ["  " * depth + shape_line(node) for node, depth, _ in walk(plan)]


def plan_shape(plan: Mapping[str, Any]) -> dict[str, Any]:
    """``{"hash", "lines"}``: the shape of ``plan`` and a hash that is equal for equal shapes."""
    lines = shape_lines(plan)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:SHAPE_HASH_CHARS]
    return {"hash": digest, "lines": lines}


def work_of(output: Mapping[str, Any]) -> dict[str, int]:
    """The work of one EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) output (the object in its
    array): one execution, its buffers and the rows its relation scans read."""
    top = output["Plan"]
    figures = {name: int(top.get(key, 0)) for name, key in WORK_KEYS.items()}
    scanned = sum(rows_read(node) for node, _, _ in walk(top) if "Relation Name" in node)
    return {"executions": 1, **figures, "rows_read": round(scanned)}


def add_work(total: Mapping[str, int], more: Mapping[str, int]) -> dict[str, int]:
    """Two works added up, figure by figure."""
    return {
        name: int(total.get(name, 0)) + int(more.get(name, 0))
        for name in dict.fromkeys((*total, *more))
    }


def buffers_of(work: Mapping[str, int]) -> int:
    """Buffers a work touched: shared hit + read, temp read + written."""
    return sum(int(work.get(name, 0)) for name in WORK_KEYS)


def call_work(plans: Iterable[Mapping[str, Any]]) -> tuple[int | None, int | None]:
    """``(buffers, rows_read)`` of a call from its stored plans; ``(None, None)`` when no
    plan carries work (not explained, or a results file from before work was recorded)."""
    works = [p["work"] for p in plans if p.get("explainable") and "work" in p]
    if not works:
        return None, None
    return sum(buffers_of(w) for w in works), sum(int(w.get("rows_read", 0)) for w in works)
