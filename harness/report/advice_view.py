"""What the report shows of the index advice (``advice`` in the results), shaped from it alone.

Per proposal: the index as ``CREATE INDEX CONCURRENTLY`` and as the Alembic
``op.create_index(...)`` line, its size, the operations it serves, the write cost measured
on the run's mutating operations, and per statement the plan before and after (execution
time, buffers touched, the plan tree).  Then every candidate tried with its outcome (kept,
rejected or not tested, and why), and the redundant indexes with their ``DROP INDEX`` line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dalperf.report.plan_views import PlanView, human_bytes, plan_view
from dalperf.results.model import Results


@dataclass(frozen=True, kw_only=True)
class StatementProof:
    """One statement a proposal serves: its plan without the index and with it."""

    sql: str
    operations: tuple[str, ...]
    reasons: tuple[str, ...]
    before_ms: float
    after_ms: float
    before_buffers: int
    after_buffers: int
    before: PlanView
    after: PlanView


@dataclass(frozen=True, kw_only=True)
class ProposalView:
    name: str
    table: str
    label: str
    create: str
    alembic: str
    size: str
    operations: tuple[str, ...]
    covered_by: tuple[str, ...]
    statements: tuple[StatementProof, ...]
    write_cost: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, kw_only=True)
class CandidateRow:
    statement: str
    name: str
    label: str
    status: str
    reason: str
    time_gain: str
    buffer_gain: str


@dataclass(frozen=True, kw_only=True)
class AdviceView:
    """The index-advice section of the report."""

    built: bool
    note: str | None
    candidates_built: int
    elapsed_s: float
    min_time_gain: float
    min_buffer_gain: float
    proposals: tuple[ProposalView, ...]
    candidates: tuple[CandidateRow, ...]
    redundant: tuple[Mapping[str, Any], ...]


def advice_view(results: Results) -> AdviceView | None:
    """The advice of ``results`` shaped for the report; ``None`` when the run has none."""
    advice = results.advice
    if not advice:
        return None
    by_fingerprint = {s["fingerprint"]: s for s in advice["statements"]}
    proposals = tuple(_proposal(p, by_fingerprint) for p in advice["proposals"])
    candidates = tuple(
        CandidateRow(
            statement=s["sql"],
            name=c["name"],
            label=_label(c),
            status=c["status"],
            reason=c.get("reason") or "",
            time_gain=_percent(c.get("time_gain")),
            buffer_gain=_percent(c.get("buffer_gain")),
        )
        for s in advice["statements"]
        for c in s["candidates"]
    )
    redundant = tuple(
        {
            **r,
            "size": human_bytes(r["size_bytes"]),
            "write_cost": [_cost_row(c) for c in r["write_cost"]],
        }
        for r in advice["redundant"]
    )
    return AdviceView(
        built=advice["built"],
        note=advice["note"],
        candidates_built=advice["candidates_built"],
        elapsed_s=advice["elapsed_s"],
        min_time_gain=advice["config"]["min_time_gain"],
        min_buffer_gain=advice["config"]["min_buffer_gain"],
        proposals=proposals,
        candidates=candidates,
        redundant=redundant,
    )


def _proposal(
    proposal: Mapping[str, Any], statements: Mapping[str, Mapping[str, Any]]
) -> ProposalView:
    proofs = []
    for figures in proposal["statements"]:
        entry = statements[figures["fingerprint"]]
        won = next(c for c in entry["candidates"] if c["name"] == proposal["name"])
        proofs.append(
            StatementProof(
                sql=entry["sql"],
                operations=tuple(entry["operations"]),
                reasons=tuple(entry["reasons"]),
                before_ms=figures["before_ms"],
                after_ms=figures["after_ms"],
                before_buffers=figures["before_buffers"],
                after_buffers=figures["after_buffers"],
                before=plan_view(entry["before"]),
                after=plan_view(won["after"]),
            )
        )
    return ProposalView(
        name=proposal["name"],
        table=proposal["table"],
        label=_label(proposal),
        create=proposal["create"],
        alembic=proposal["alembic"],
        size=human_bytes(proposal["size_bytes"]) if proposal["size_bytes"] is not None else "—",
        operations=tuple(proposal["operations"]),
        covered_by=tuple(proposal.get("covered_by", ())),
        statements=tuple(proofs),
        write_cost=tuple(_cost_row(c) for c in proposal["write_cost"]),
    )


def _label(candidate: Mapping[str, Any]) -> str:
    text = f"{candidate['table']} ({', '.join(candidate['columns'])})"
    return text + (f" INCLUDE ({', '.join(candidate['include'])})" if candidate["include"] else "")


def _cost_row(cost: Mapping[str, Any]) -> dict[str, Any]:
    """A write-cost row with its figures as text (a failed measurement shows its error)."""

    def shown(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f} ms"

    delta = cost.get("cost_ms")
    return {
        "where": f"{cost['operation']} [{cost['variant']}]",
        "calls": cost["calls"],
        "with": shown(cost.get("with_index_ms")),
        "without": shown(cost.get("without_index_ms")),
        "cost": "—" if delta is None else f"{delta:+.2f} ms",
        "error": cost.get("error") or "",
    }


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"
