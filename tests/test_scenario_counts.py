"""The acceptance figures: queries and round trips of each case-study variant, captured for real.

Each variant runs against the seeded database under :class:`dalperf.capture.session.Capture`; a
mutating one runs inside :func:`dalperf.measure.isolation.isolated`, whose own traffic (BEGIN, the
outer SAVEPOINT, the final ROLLBACK) is excluded with :func:`dalperf.capture.session.suspended`,
exactly as the runner does.  Every variant is called once before it is measured, so the
pool's connections exist and connection set-up does not blur the depth.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import dalperf.scenarios  # noqa: F401  (registers the case study)
from dalperf.capture.session import Capture
from dalperf.measure.engines import Engines
from dalperf.measure.registry import REGISTRY
from dalperf.measure.runner import measure_call


async def _measure(engines: Engines, name: str, variant: str, params: Any) -> tuple[Capture, Any]:
    op = REGISTRY.get(name)
    measured = await measure_call(op, op.variant(variant), engines, params)
    return measured.capture, measured.result


def measure(
    loop: asyncio.Runner, engines: Engines, name: str, *, size: int | None = None, seed: int = 0
) -> dict[str, tuple[Capture, Any]]:
    """Every variant of ``name`` captured on the same params."""
    op = REGISTRY.get(name)
    params = loop.run(op.draw_params(engines, seed=seed, size=size))
    for variant in op.variants:  # warm the pool and the caches outside any figure we keep
        loop.run(_measure(engines, name, variant.name, params))
    return {v.name: loop.run(_measure(engines, name, v.name, params)) for v in op.variants}


@pytest.mark.parametrize("size", [5, 20, 50])
def test_delete_chain(size: int, loop: asyncio.Runner, engines: Engines) -> None:
    figures = measure(loop, engines, "render_chains.delete_chain", size=size)
    naive, _ = figures["naive"]
    assert naive.queries == 1 + size + 1  # 52 for a chain of 50
    assert naive.round_trips == 1 + size + 1
    (repeated,) = naive.n_plus_one()
    assert repeated.count == size and repeated.sql.lstrip().upper().startswith("UPDATE RENDERS")
    summary, _ = figures["summary"]
    assert (summary.queries, summary.round_trips) == (2, 2)
    optimized, result = figures["optimized"]
    assert optimized.queries <= 2 and optimized.round_trips <= 2
    assert optimized.queries == 1, "one statement: the data-modifying CTE"
    assert result["detached"] == size and result["deleted"]


def test_get_user_stats(loop: asyncio.Runner, engines: Engines) -> None:
    figures = measure(loop, engines, "profile_stats.get_user_stats")
    naive, _ = figures["naive"]
    assert naive.round_trips >= 4 and naive.queries == naive.round_trips
    summary, _ = figures["summary"]
    assert (summary.queries, summary.round_trips) == (4, 1)
    optimized, _ = figures["optimized"]
    assert optimized.round_trips == 1 and optimized.queries < summary.queries
    assert optimized.rows_fetched == 1


def test_get_with_context(loop: asyncio.Runner, engines: Engines) -> None:
    figures = measure(loop, engines, "renders.get_with_context")
    assert [(c.queries, c.round_trips) for c, _ in figures.values()] == [(4, 4), (4, 2), (1, 1)]


def test_get_user_credits_with_reset(loop: asyncio.Runner, engines: Engines) -> None:
    figures = measure(loop, engines, "billing.get_user_credits_with_reset")
    assert figures["naive"][0].queries >= 2
    assert figures["summary"][0].queries == 1
    assert figures["optimized"][0].queries == 1
    assert figures["optimized"][0].rows_fetched == 1


@pytest.mark.parametrize("name", ["renders.get_by_ids", "renders.update_status_batch"])
def test_batches_of_20_ids(name: str, loop: asyncio.Runner, engines: Engines) -> None:
    figures = measure(loop, engines, name, size=20)
    naive, _ = figures["naive"]
    assert naive.queries == 20 and naive.round_trips == 20
    assert [g.count for g in naive.n_plus_one()] == [20]
    optimized, result = figures["optimized"]
    assert (optimized.queries, optimized.round_trips) == (1, 1)
    assert optimized.rows_fetched == len(result) == 20


def test_list_with_render_counts(loop: asyncio.Runner, engines: Engines) -> None:
    figures = measure(loop, engines, "projects.list_with_render_counts", size=20)
    naive, listed = figures["naive"]
    assert len(listed) == 20 and naive.queries == 1 + 20
    for variant in ("summary", "optimized"):
        assert figures[variant][0].queries == 1


def test_top_n_per_project(loop: asyncio.Runner, engines: Engines) -> None:
    figures = measure(loop, engines, "renders.top_n_per_project", size=20)
    naive, _ = figures["naive"]
    assert naive.queries == 20
    summary, top = figures["summary"]
    returned = sum(len(rows) for rows in top.values())
    assert summary.queries == 1 and summary.rows_fetched > returned, "filtered in the application"
    optimized, top = figures["optimized"]
    assert optimized.queries == 1 and optimized.rows_fetched == returned, "filtered in SQL"


@pytest.mark.parametrize("page", [1, 50])
def test_gallery_page(page: int, loop: asyncio.Runner, engines: Engines) -> None:
    figures = measure(loop, engines, "gallery.list_public", size=page)
    for capture, items in figures.values():
        assert (capture.queries, capture.round_trips) == (1, 1)
        assert capture.rows_fetched == len(items) == 20
    assert " OFFSET " in figures["naive"][0].statements[0].sql.upper()
    keyset_sql = figures["optimized"][0].statements[0].sql.upper()
    assert " OFFSET " not in keyset_sql and (
        "(GALLERY_ITEMS.CREATED_AT, GALLERY_ITEMS.ID) <" in keyset_sql
    ) == (page > 1)
